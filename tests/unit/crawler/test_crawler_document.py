"""Decoding and reading HTML: charsets from header, meta or BOM; bad bytes never crash."""

from __future__ import annotations

import pytest

from services.crawler.document import decode, is_html, parse

PAGE = b"""<!DOCTYPE html><html lang="en-us"><head><meta charset="utf-8">
<title>  Onboard   devices </title>
<link rel="canonical" href="https://learn.microsoft.com/en-us/defender-endpoint/onboard">
<link rel="alternate" hreflang="de-de" href="/de-de/defender-endpoint/onboard">
</head><body><a href="#main">skip</a><a href="/en-us/defender-endpoint/a">A</a>
<a href="b?view=x">B</a><a href="mailto:x@y">mail</a><a href="javascript:void(0)">js</a>
</body></html>"""


def test_parse_reads_title_canonical_and_links() -> None:
    doc = parse(PAGE, "text/html; charset=utf-8")
    assert doc.title == "Onboard devices"
    assert doc.canonical == "https://learn.microsoft.com/en-us/defender-endpoint/onboard"
    assert doc.links == ["/en-us/defender-endpoint/a", "b?view=x"]  # no hreflang twin


def test_base_href_is_reported() -> None:
    doc = parse(b'<html><head><base href="/x/"></head><body><a href="y">y</a></body></html>')
    assert doc.base == "/x/" and doc.links == ["y"]


@pytest.mark.parametrize(("body", "content_type", "charset", "text"), [
    ("café".encode("latin-1"), "text/html; charset=ISO-8859-1", "iso8859-1", "café"),
    ('<meta charset="windows-1252">\x93q\x94'.encode("latin-1"), "text/html", "cp1252", "“q”"),
    ("\ufeffcafé".encode("utf-8"), "text/html; charset=latin-1", "utf-8-sig", "café"),
    ("café".encode("utf-8"), "text/html; charset=nonsense", "utf-8", "café"),
    ("café".encode("utf-8"), None, "utf-8", "café"),
])
def test_charset_order(body: bytes, content_type: str | None, charset: str, text: str) -> None:
    decoded, used = decode(body, content_type)
    assert used == charset and decoded.endswith(text)


def test_undecodable_bytes_are_replaced() -> None:
    doc = parse(b"<html><title>Bytes \xff\xfe</title><p>\xc3\x28 text</p></html>",
                "text/html; charset=utf-8")
    assert doc.title == "Bytes \ufffd\ufffd" and "\ufffd( text" in doc.text


@pytest.mark.parametrize("body", [b"", b"   ", b"\x00\x01\x02", b"<", b"<?xml?>"])
def test_odd_bodies_never_crash(body: bytes) -> None:
    doc = parse(body, "text/html")
    assert doc.links == []


@pytest.mark.parametrize(("content_type", "html"), [
    ("text/html; charset=utf-8", True), ("application/xhtml+xml", True), (None, True),
    ("application/pdf", False), ("text/plain", False), ("image/png", False)])
def test_only_html_content_types(content_type: str | None, html: bool) -> None:
    assert is_html(content_type) is html
