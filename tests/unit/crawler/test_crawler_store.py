"""Page store and crawl ledger on a temp DATA_DIR: writes, queries, history, resume bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.crawler.ledger import CrawlLedger
from services.crawler.store import PageStore, write_atomic
from services.crawler.urls import page_id
from shared.schemas import PageInfo
from shared.settings import Settings


@pytest.fixture
def store(tmp_path: Path) -> PageStore:
    store = PageStore(Settings(data_dir=tmp_path))
    yield store
    store.close()


def page(url: str, state: str = "new", crawl_id: str = "c1", **extra: object) -> PageInfo:
    return PageInfo(id=page_id(url), url=url, state=state, crawl_id=crawl_id, **extra)


def test_save_writes_html_and_metadata(store: PageStore) -> None:
    info = page("http://h/a", title="A page", content_hash="x", status=200)
    store.save(info, checked_at=1.0, links=["http://h/b"], html=b"<p>a</p>", detail="fetched")
    assert store.get(info.id) == info
    assert store.read_html(info.id) == b"<p>a</p>"
    assert store.raw_path(info.id).parent == store.root / "raw"
    stored = store.by_url("http://h/a")
    assert stored is not None and stored.links == ["http://h/b"] and stored.checked_at == 1.0


def test_a_later_outcome_keeps_links_and_check_time_it_does_not_carry(store: PageStore) -> None:
    store.save(page("http://h/a", content_hash="x"), checked_at=1.0, links=["http://h/b"])
    store.save(page("http://h/a", state="failed", crawl_id="c2", content_hash="x",
                    error="timeout"), checked_at=None)
    stored = store.by_url("http://h/a")
    assert stored is not None and stored.links == ["http://h/b"] and stored.checked_at == 1.0
    assert [h.state for h in store.history(page_id("http://h/a"))] == ["failed", "new"]


def test_list_filters_by_state_and_text_and_pages(store: PageStore) -> None:
    for n in range(5):
        store.save(page(f"http://h/p{n}", state="failed" if n % 2 else "new",
                        title=f"Title {n}"), checked_at=None)
    assert store.list_pages(state="failed").total == 2
    assert [p.url for p in store.list_pages(q="title 3").items] == ["http://h/p3"]
    assert store.list_pages(q="%").total == 0  # LIKE wildcards are literal
    second = store.list_pages(limit=2, offset=2)
    assert second.total == 5 and [p.url for p in second.items] == ["http://h/p2", "http://h/p3"]


def test_unreached_pages_with_content_are_deleted(store: PageStore) -> None:
    store.save(page("http://h/kept", content_hash="k"), checked_at=None)
    store.save(page("http://h/gone", content_hash="g"), checked_at=None)
    store.save(page("http://h/dead", state="failed"), checked_at=None)
    store.save(page("http://h/kept", state="unchanged", crawl_id="c2", content_hash="k"),
               checked_at=None)
    assert store.mark_unreached("c2") == 1
    gone = store.get(page_id("http://h/gone"))
    assert gone is not None and gone.state == "deleted" and gone.crawl_id == "c2"
    assert store.get(page_id("http://h/dead")).state == "failed"  # never had content


def test_manifest_lists_pages_with_content(store: PageStore) -> None:
    store.save(page("http://h/a", content_hash="x", canonical_url="https://pub/a"),
               checked_at=None, html=b"a")
    store.save(page("http://h/dead", state="failed"), checked_at=None)
    manifest = json.loads(store.write_manifest().read_text())
    assert [(m["url"], m["canonical_url"]) for m in manifest] == [("http://h/a", "https://pub/a")]
    assert (store.root / manifest[0]["path"]).read_bytes() == b"a"


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    write_atomic(tmp_path / "f.html", b"one")
    write_atomic(tmp_path / "f.html", b"two")
    assert [p.name for p in tmp_path.iterdir()] == ["f.html"]
    assert (tmp_path / "f.html").read_bytes() == b"two"


def test_ledger_pending_excludes_urls_with_an_outcome(store: PageStore) -> None:
    ledger = CrawlLedger(store)
    crawl_id = ledger.start(full=False)
    ledger.push(crawl_id, [("http://h/a", 0), ("http://h/b", 1), ("http://h/c", 1)])
    ledger.push(crawl_id, [("http://h/a", 3)])  # already known: ignored
    store.save(page("http://h/b", crawl_id=crawl_id), checked_at=None)
    assert ledger.pending(crawl_id) == [("http://h/a", 0), ("http://h/c", 1)]
    assert ledger.interrupted() == (crawl_id, False)
    ledger.checkpoint(crawl_id, {"robots": 2}, 7)
    assert ledger.stats(crawl_id) == ({"robots": 2}, 7)
    ledger.finish(crawl_id, "finished", complete=True)
    assert ledger.interrupted() is None and ledger.known(crawl_id) == []
    info = ledger.get(crawl_id)
    assert info is not None and info.counts == {"new": 1} and info.skipped == {"robots": 2}
    assert ledger.list_crawls().total == 1
