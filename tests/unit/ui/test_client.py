"""The UI's HTTP client against httpx.MockTransport: SSE, problem details, outages, POST /update."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from shared.settings import Settings
from ui.client import ServiceDown, ServiceProblem, UiClient, parse_sse

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler) -> UiClient:
    settings = Settings(gateway_url="http://gw.test", generation_url="http://gen.test",
                        retrieval_url="http://ret.test")
    return UiClient(settings, transport=httpx.MockTransport(handler))


def problem(status: int, code: str, detail: str, **headers: str) -> httpx.Response:
    body = {"type": f"urn:mde:{code}", "title": code, "status": status, "detail": detail}
    return httpx.Response(status, json=body, headers=headers)


def test_parse_sse() -> None:
    lines = ["event: sources", 'data: {"sources": []}', "", ": ping", "event: token",
             'data: {"text": "Hi"}', "", 'data: not json', "", "event: done", 'data: {"a": 1}']
    assert list(parse_sse(iter(lines))) == [
        ("sources", {"sources": []}), ("token", {"text": "Hi"}), ("message", {"text": "not json"}),
        ("done", {"a": 1})]


def test_generate_streams_events_and_sends_the_payload() -> None:
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        assert request.url == "http://gen.test/generate"
        body = 'event: token\ndata: {"text": "Paris"}\n\nevent: done\ndata: {"text": "Paris"}\n\n'
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    events = list(client(handler).generate({"question": "q", "mode": "ft"}))
    assert events == [("token", {"text": "Paris"}), ("done", {"text": "Paris"})]
    assert b'"mode":"ft"' in seen[0].replace(b" ", b"")


def test_generate_error_becomes_a_problem_with_its_code() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return problem(503, "busy", "8 generations queued", **{"Retry-After": "5"})

    with pytest.raises(ServiceProblem) as caught:
        list(client(handler).generate({"question": "q"}))
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (503, "busy", 5)
    assert caught.value.detail == "8 generations queued"


def test_a_service_that_does_not_answer_is_down() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    ui = client(handler)
    with pytest.raises(ServiceDown, match="generation service is not answering at `http://gen.test`"):
        list(ui.generate({"question": "q"}))
    with pytest.raises(ServiceDown, match="make run"):
        ui.updates()


def test_problem_markdown_escapes_the_detail() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="<script>x</script>")

    with pytest.raises(ServiceProblem) as caught:
        client(handler).jobs()
    assert caught.value.markdown() == r"The gateway answered 500: \<script\>x\</script\>"


@pytest.mark.parametrize(("response", "status", "update_id", "retry_after"), [
    (httpx.Response(202, json={"update_id": "abc", "status_url": "/update/abc"}), 202, "abc", None),
    (problem(429, "too_many_requests", "update x is running", **{"Retry-After": "120"}),
     429, None, 120),
    (problem(401, "unauthorized", "needs a token"), 401, None, None),
])
def test_start_update_outcomes(response: httpx.Response, status: int, update_id: str | None,
                               retry_after: int | None) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return response

    outcome = client(handler).start_update(token="s3cret", force=True)
    assert (outcome.status, outcome.update_id, outcome.retry_after) == (
        status, update_id, retry_after)
    assert sent[0].headers["authorization"] == "Bearer s3cret"
    assert sent[0].url.params["force"] == "true"


def test_start_update_other_errors_raise() -> None:
    with pytest.raises(ServiceProblem):
        client(lambda request: problem(400, "bad_request", "stages")).start_update()


def test_ready_keeps_the_breakdown_of_a_503() -> None:
    body = {"ready": False, "checks": {"crawler": {"ok": False, "detail": "down"}}}
    assert client(lambda request: httpx.Response(503, json=body)).ready() == body


def test_pages_drops_empty_filters() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert dict(request.url.params) == {"state": "failed", "limit": "50", "offset": "0"}
        return httpx.Response(200, json={"total": 0, "items": []})

    assert client(handler).pages(state="failed", q="") == {"total": 0, "items": []}


def test_non_json_answer_is_a_problem() -> None:
    with pytest.raises(ServiceProblem, match="did not answer JSON"):
        client(lambda request: httpx.Response(200, text="<html>")).model()
