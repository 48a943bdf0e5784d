"""The quality floor: crawl and index the whole docsite, then hybrid page recall@5 on the public
questions must stay at or above 0.90 (measured 0.95 when this test was written)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.crawler.crawl import run_crawl
from services.embedding.client import LocalEmbedder
from services.indexer import indexing
from services.indexer.peers import StorePageSource
from services.retrieval.evaluation import evaluate, load_questions
from services.retrieval.retriever import Retriever
from services.retrieval.store import open_store
from tests.conftest import SHARED, RedisServer, start_docsite
from tests.integration.index_kit import environment

# embeds ~2,900 chunks: a few minutes on a quiet 2-core machine, far more on a loaded one
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2700)]
QUESTIONS = SHARED / "eval" / "questions.jsonl"
FLOOR = 0.90


@pytest.fixture(scope="module")
def indexed(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[Retriever, dict]]:
    base: Path = tmp_path_factory.mktemp("recall")
    site = start_docsite(base / "docsite.log")
    env = {"data_dir": base / "data", "redis_port": redis_server.port,
           "redis_password": redis_server.password, "crawl__base_url": site.base_url,
           "crawl__allowed_domain": site.domain, "crawl__sleep_between_requests_sec": 0}
    try:
        with environment(env) as settings:
            run_crawl(settings)
            embedder = LocalEmbedder(settings)
            retriever = Retriever(open_store(settings), embedder, settings.index)
            source = StorePageSource(settings)
            result = indexing.run(source, embedder, retriever, settings)
            yield retriever, result
            retriever.close()
    finally:
        site.stop()


def test_every_article_is_indexed(indexed: tuple[Retriever, dict]) -> None:
    retriever, result = indexed
    assert result["pages_indexed"] >= 224 and result["pages_failed"] == 0
    assert retriever.collection().points == result["chunks_written"]


def test_hybrid_recall_at_5_keeps_the_floor(indexed: tuple[Retriever, dict]) -> None:
    retriever, _ = indexed
    scores = evaluate(retriever.search, load_questions(QUESTIONS), k=5, mode="hybrid")
    assert scores["recall@5"] >= FLOOR, scores
    assert set(scores) >= {"recall@1", "recall@5", "recall@10", "mrr@10", "section_recall@5",
                           "per_kind", "latency_ms"}


def test_technical_tokens_are_found_verbatim(indexed: tuple[Retriever, dict]) -> None:
    retriever, _ = indexed
    for query, slug in [("Set-MpPreference -EnableControlledFolderAccess AuditMode",
                         "enable-controlled-folders"),
                        ("mdatp exclusion process add --name", "linux-exclusions")]:
        urls = [hit.url for hit in retriever.search(query, 5, "sparse").hits]
        assert any(url.endswith("/" + slug) for url in urls), (query, urls)


def test_a_question_naming_a_platform_gets_its_pages_first(indexed: tuple[Retriever, dict]
                                                           ) -> None:
    # the fault: three macOS pages ranked above the Linux performance page (8th)
    retriever, _ = indexed
    hits = retriever.search("wdavdaemon is hammering the CPU on our linux servers, how do I find "
                            "out what is causing it?", 5, "hybrid").hits
    pages = [hit.url.split("#")[0].rsplit("/", 1)[-1] for hit in hits]
    assert "linux-support-perf" in pages, pages
    assert not any(page.startswith("mac-") or page.endswith("-macos") for page in pages), pages
