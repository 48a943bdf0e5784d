"""Sitemaps: urlsets, indexes, gzip, broken XML, and what a lastmod proves."""

from __future__ import annotations

import asyncio
import gzip
from datetime import datetime, timezone

import pytest

from services.crawler.sitemap import changed_before, collect, parse_sitemap

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
URLSET = (f'<?xml version="1.0"?><urlset {NS}><url><loc>http://h/a</loc><lastmod>2024-05-01'
          f'</lastmod></url><url><loc> http://h/b </loc></url></urlset>').encode()
INDEX = (f'<sitemapindex {NS}><sitemap><loc>http://h/de-de.xml</loc></sitemap>'
         f'<sitemap><loc>http://h/en-us.xml</loc></sitemap></sitemapindex>').encode()


def test_urlset_entries_with_and_without_lastmod() -> None:
    sitemap = parse_sitemap(URLSET)
    assert sitemap.entries == {"http://h/a": "2024-05-01", "http://h/b": None}
    assert sitemap.children == []


def test_index_lists_children() -> None:
    assert parse_sitemap(INDEX).children == ["http://h/de-de.xml", "http://h/en-us.xml"]


def test_gzip_and_its_size_bound() -> None:
    assert parse_sitemap(gzip.compress(URLSET)).entries
    with pytest.raises(ValueError):
        parse_sitemap(gzip.compress(URLSET + b" " * 5000), max_bytes=1000)


def test_broken_xml_gives_what_it_can() -> None:
    assert parse_sitemap(b"<urlset><url><loc>http://h/a</loc></url><url><loc>").entries == {
        "http://h/a": None}
    assert parse_sitemap(b"not xml at all").entries == {}


def test_entities_are_not_expanded() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>'
            b'<urlset><url><loc>http://h/&a;</loc></url></urlset>')
    assert "aaaaaaaaaa" not in "".join(parse_sitemap(bomb).entries)


def test_a_date_proves_freshness_only_after_its_day_ends() -> None:
    end_of_day = datetime(2024, 5, 2, tzinfo=timezone.utc).timestamp()
    assert changed_before("2024-05-01") == end_of_day


def test_a_datetime_is_exact() -> None:
    moment = datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc).timestamp()
    assert changed_before("2024-05-01T10:30:00Z") == moment
    assert changed_before("2024-05-01T12:30:00+02:00") == moment


@pytest.mark.parametrize("text", [None, "", "yesterday", "2024-13-45"])
def test_unusable_lastmod(text: str | None) -> None:
    assert changed_before(text) is None


def test_collect_follows_indexes_own_locale_first_and_bounded() -> None:
    fetched: list[str] = []
    bodies = {"http://h/sitemap.xml": INDEX, "http://h/en-us.xml": URLSET,
              "http://h/de-de.xml": f'<urlset {NS}><url><loc>http://h/de</loc></url></urlset>'.encode()}

    async def fetch(url: str) -> bytes | None:
        fetched.append(url)
        return bodies.get(url)

    entries = asyncio.run(collect(fetch, ["http://h/sitemap.xml", "http://h/sitemap.xml"], 2,
                                  locale="en-us"))
    assert fetched == ["http://h/sitemap.xml", "http://h/en-us.xml"]
    assert set(entries) == {"http://h/a", "http://h/b"}
