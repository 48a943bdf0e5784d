"""An HTML answer as the crawler needs it: decoded text, title, canonical URL and links."""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass, field

import lxml.html
from lxml import etree

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")
META_CHARSET = re.compile(
    rb"""(?:<meta[^>]+charset|<\?xml[^>]+encoding)\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""",
    re.IGNORECASE)
BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"))
UTF8_PARSER = lxml.html.HTMLParser(encoding="utf-8")
SKIP_SCHEMES = ("mailto:", "javascript:", "tel:", "data:", "#")


@dataclass
class Document:
    text: str
    charset: str
    title: str | None = None
    canonical: str | None = None
    base: str | None = None  # <base href>, which links resolve against
    links: list[str] = field(default_factory=list)  # hrefs as written, resolved later


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def is_html(content_type: str | None) -> bool:
    """True for HTML answers; a missing Content-Type is given the benefit of the doubt."""
    kind = media_type(content_type)
    return kind == "" or kind in HTML_TYPES


def _known(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        return codecs.lookup(charset.strip().strip("\"'")).name
    except LookupError:
        return None


def header_charset(content_type: str | None) -> str | None:
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return _known(value)
    return None


def decode(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """(text, charset): a BOM, then the header, then a <meta> charset, then UTF-8.

    Bytes the charset cannot decode become U+FFFD: a page is never lost to one bad byte.
    """
    charset = next((name for bom, name in BOMS if body.startswith(bom)), None)
    charset = charset or header_charset(content_type)
    if charset is None:
        match = META_CHARSET.search(body[:4096])
        charset = _known(match.group(1).decode("ascii", "replace")) if match else None
    charset = charset or "utf-8"
    if charset == "utf-8" and body.startswith(codecs.BOM_UTF8):
        charset = "utf-8-sig"
    return body.decode(charset, errors="replace"), charset


def parse(body: bytes, content_type: str | None = None) -> Document:
    """Decode and read the parts the crawler uses; markup lxml cannot read gives no links."""
    text, charset = decode(body, content_type)
    doc = Document(text=text, charset=charset)
    if not text.strip():
        return doc
    try:  # parse our own UTF-8 so a stale <meta charset> or XML declaration cannot mislead lxml
        tree = lxml.html.document_fromstring(text.encode("utf-8"), parser=UTF8_PARSER)
    except (etree.ParserError, ValueError) as error:
        log.debug("unparsable HTML: %s", error)
        return doc
    title = tree.findtext(".//title")
    doc.title = " ".join(title.split()) if title and title.strip() else None
    for link in tree.iterfind(".//link[@rel][@href]"):
        if "canonical" in link.get("rel", "").lower().split():
            doc.canonical = link.get("href", "").strip() or None
            break
    base = tree.find(".//base[@href]")
    doc.base = (base.get("href", "").strip() or None) if base is not None else None
    for anchor in tree.iterfind(".//a[@href]"):
        href = anchor.get("href", "").strip()
        if href and not href.lower().startswith(SKIP_SCHEMES):
            doc.links.append(href)
    return doc
