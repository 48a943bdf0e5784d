"""The Streamlit UI in AppTest against real services: the generation service with the real model,
and a real gateway with real RQ workers (stand-in stage functions, see gateway_stages.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from shared.settings import PROJECT_ROOT, Settings
from tests.conftest import Docsite, free_port
from tests.integration import ui_kit
from tests.integration.gateway_kit import Pipeline
from tests.integration.gateway_stages import STAGE_FUNCTIONS

pytestmark = pytest.mark.slow

APP = str(PROJECT_ROOT / "ui" / "app.py")
QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def rag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ui_kit.Server, ui_kit.Server]]:
    """(retrieval, generation): the real services, real model, over a small real index."""
    with ui_kit.rag_services(tmp_path_factory.mktemp("rag")) as services:
        yield services


@pytest.fixture
def generation(rag: tuple[ui_kit.Server, ui_kit.Server],
               ui_settings: Callable[..., Settings]) -> ui_kit.Server:
    """The UI pointed at the real retrieval and generation services."""
    retrieval, generation = rag
    ui_settings(generation_url=generation.url, retrieval_url=retrieval.url)
    return generation


@pytest.fixture
def ui_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    """Point the UI (which runs inside this process under AppTest) at the given services."""

    def point(**urls: str) -> Settings:
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: a service that is not there
        env = {"gateway_url": dead, "generation_url": dead, "retrieval_url": dead}
        env.update(urls)
        st.cache_data.clear()
        return make_settings(**env, infer__max_new_tokens=16, infer__temperature=0)

    yield point
    st.cache_data.clear()


def app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180).run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def ask(at: AppTest, question: str, mode: str) -> AppTest:
    at.segmented_control(key="mode").set_value(mode)
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    return at


def answers(at: AppTest) -> list[str]:
    return [str(block.markdown[0].value) for block in at.chat_message
            if block.name == "assistant" and len(block.markdown)]


def test_a_question_streams_an_answer_with_timings(generation: ui_kit.Server) -> None:
    at = ask(app(), QUESTION, "ft")
    assert "Paris" in answers(at)[-1]
    caption = " ".join(c.value for c in at.caption)
    assert "first token" in caption and "tok/s" in caption and "ft" in caption
    assert not at.error
    assert "base weights" in " ".join(c.value for c in at.sidebar.caption)  # the model in use


def test_mode_switch_changes_the_request(generation: ui_kit.Server) -> None:
    at = ask(app(), QUESTION, "ft")
    assert at.session_state["last_request"]["mode"] == "ft"
    assert "top_k" not in at.session_state["last_request"]
    ask(at, QUESTION, "rag")
    request = at.session_state["last_request"]
    assert request["mode"] == "rag" and request["top_k"] == 5
    assert request["history"][0] == {"role": "user", "content": QUESTION}
    captions = [c.value for c in at.caption if "first token" in c.value]
    assert " · ft · " in captions[0] and " · rag · " in captions[1]  # as the service answered
    assert "retrieval" in captions[1] and "retrieval" not in captions[0]


def test_index_size_and_an_empty_index_from_the_retrieval_service(
        ui_settings: Callable[..., Settings], tmp_path: Path) -> None:
    retrieval = ui_kit.service("retrieval", tmp_path, INDEX__QUERY_EMBEDDER="local").start()
    try:
        ui_settings(retrieval_url=retrieval.url)
        at = app()
        assert at.info[0].value == "The index is empty — run an update."
        ui_kit.index_corpus(retrieval.url, 3)
        st.cache_data.clear()
        at = app()
        assert not at.info
        assert any(c.value.startswith("3 passages · updated just now") for c in at.sidebar.caption)
        at.switch_page("pipeline.py").run()
        assert at.metric[0].value == "3"
    finally:
        retrieval.stop()


def test_a_rag_answer_cites_numbered_sources(generation: ui_kit.Server) -> None:
    at = ask(app(), "How do I add an antivirus exclusion on Linux?", "rag")
    shown = "\n".join(str(m.value) for m in at.markdown)
    assert "**\\[1\\]** [" in shown
    assert "(https://learn.example/en-us/defender-endpoint/linux-exclusions#" in shown
    assert any("mdatp exclusion" in str(t.value) for t in at.text)  # the passage
    assert "retrieval" in " ".join(c.value for c in at.caption)


def click_update(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == "Update now").click().run()
    assert not at.exception, at.exception
    return at


def test_update_button_shows_202_then_429(ui_settings: Callable[..., Settings],
                                          make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline()
    (pipeline.stage_dir / "crawl.sleep").write_text("8")
    ui_settings(gateway_url=pipeline.url(""))
    at = click_update(app("pipeline.py"))
    assert "202 Accepted" in at.success[0].value
    update_id = at.session_state["watch_update"]
    assert httpx.get(pipeline.url(f"/update/{update_id}"), timeout=5).json()["status"] == "running"
    click_update(at)
    assert "429 Too Many Requests" in at.warning[0].value
    assert "is running" in at.warning[0].value
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "step" not in " ".join(
            p.text for p in at.get("progress")):
        time.sleep(1)
        at.run()
    labels = [p.text for p in at.get("progress")]
    assert len(labels) == 4 and labels[0].startswith("**Crawl**") and "step" in labels[0]


def test_update_asks_for_the_token_when_one_is_required(
        ui_settings: Callable[..., Settings], make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline(UPDATE_TOKEN="s3cret")
    ui_settings(gateway_url=pipeline.url(""))
    at = click_update(app("pipeline.py"))
    assert "401 Unauthorized" in at.error[0].value
    at.text_input(key="update_token").set_value("wrong")
    click_update(at)
    assert "401 Unauthorized" in at.error[0].value
    at.text_input(key="update_token").set_value("s3cret")
    click_update(at)
    assert "202 Accepted" in at.success[0].value


def test_crawled_pages_with_their_failures(ui_settings: Callable[..., Settings],
                                           make_pipeline: Callable[..., Pipeline],
                                           docsite: Callable[..., Docsite]) -> None:
    site = docsite("--limit", "6", "--fail-rate", "0.4", "--seed", "3")
    crawler_port = free_port()
    stages = {**STAGE_FUNCTIONS, "crawl": "services.crawler.jobs.crawl_site"}
    pipeline = make_pipeline(
        UPDATE__STAGE_FUNCTIONS=json.dumps(stages), CRAWLER_PORT=str(crawler_port),
        CRAWLER_URL=f"http://127.0.0.1:{crawler_port}", CRAWL__BASE_URL=site.base_url,
        CRAWL__ALLOWED_DOMAIN=site.domain, CRAWL__SLEEP_BETWEEN_REQUESTS_SEC="0",
        CRAWL__MAX_RETRIES="0")
    pipeline.spawn("crawler_api", "-m", "shared.serve", "crawler")
    update = httpx.post(pipeline.url("/update"), json={"stages": ["crawl"]}, timeout=10).json()
    assert pipeline.wait_for(update["update_id"], timeout=120)["status"] == "finished"
    ui_settings(gateway_url=pipeline.url(""))
    at = app("pages.py")
    table = at.dataframe[0].value
    assert len(table) >= 6 and set(table["state"]) <= {"new", "failed"}
    failed = table[table["state"] == "failed"]
    assert len(failed) and all(failed["why it failed"].str.len() > 0), table
    at.segmented_control(key="pages_state").set_value("failed").run()
    assert set(at.dataframe[0].value["state"]) == {"failed"}


def test_crawled_pages_and_services_without_a_crawler(
        ui_settings: Callable[..., Settings], make_pipeline: Callable[..., Pipeline]) -> None:
    pipeline = make_pipeline(CRAWLER_URL=f"http://127.0.0.1:{free_port()}")
    ui_settings(gateway_url=pipeline.url(""))
    at = app("pages.py")
    assert "crawled-pages list is not available" in at.warning[0].value
    assert "502" in at.warning[0].value


def test_a_stopped_generation_service_gives_a_friendly_message(generation: ui_kit.Server) -> None:
    generation.stop()  # last in this module: the service is gone for good
    at = ask(app(), QUESTION, "ft")
    assert "The generation service is not answering" in at.error[0].value
    assert "make run" in at.error[0].value
    assert not at.exception

