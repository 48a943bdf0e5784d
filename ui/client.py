"""HTTP client for the UI: it only talks to the services' APIs, never to their internals.

UiError
 ├── ServiceDown      the service did not answer at all (connection refused, timeout)
 └── ServiceProblem   it answered with an error status (problem details: status, detail, code)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from shared.settings import Settings
from ui.markup import escape_md

log = logging.getLogger(__name__)

READ_TIMEOUT_SEC = 300.0  # longest silence between two SSE events (prefill of a long prompt)
START_HINT = "start the stack with `make run`"
LABELS = {"gateway": "gateway", "generation": "generation service",
          "retrieval": "retrieval service"}


class UiError(Exception):
    """Something the UI shows as a friendly message instead of a traceback."""

    def markdown(self) -> str:
        """The message as Markdown, with whatever a service said escaped."""
        return escape_md(str(self))


class ServiceDown(UiError):
    """A service did not answer; the message says which and how to start it."""

    def markdown(self) -> str:
        return str(self)  # made here from settings, not from a service's answer


class ServiceProblem(UiError):
    """A service answered with an error status."""

    def __init__(self, service: str, status: int, detail: str, code: str = "",
                 retry_after: int | None = None) -> None:
        super().__init__(f"the {LABELS.get(service, service)} answered {status}: {detail}")
        self.service, self.status, self.detail = service, status, detail
        self.code, self.retry_after = code, retry_after

    def markdown(self) -> str:
        label = LABELS.get(self.service, self.service)
        return f"The {label} answered {self.status}: {escape_md(self.detail)}"


@dataclass
class UpdateOutcome:
    """What POST /update said: 202 with an id, 429 with a wait, 401 when a token is needed."""

    status: int
    update_id: str | None = None
    detail: str = ""
    retry_after: int | None = None


def problem_of(service: str, response: httpx.Response) -> ServiceProblem:
    """An error response as a ServiceProblem (RFC 9457 body when there is one)."""
    detail, code = response.text[:300] or response.reason_phrase, ""
    try:
        body = response.json()
        if isinstance(body, dict):
            raw = body.get("detail", detail)
            detail = raw if isinstance(raw, str) else json.dumps(raw)[:300]
            code = str(body.get("type", "")).removeprefix("urn:mde:")
    except ValueError:
        pass
    retry = response.headers.get("retry-after", "")
    return ServiceProblem(service, response.status_code, detail, code,
                          int(retry) if retry.isdigit() else None)


class UiClient:
    """One method per API call the UI makes; errors become ServiceDown or ServiceProblem."""

    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None,
                 timeout: float = 5.0) -> None:
        self.settings = settings
        self.http = httpx.Client(timeout=timeout, transport=transport)
        self.urls = {name: settings.service_url(name) for name in LABELS}

    def down(self, service: str, error: Exception) -> ServiceDown:
        """The friendly error for a service that did not answer."""
        return ServiceDown(f"The {LABELS[service]} is not answering at `{self.urls[service]}` "
                           f"({type(error).__name__}) — {START_HINT}.")

    def call(self, service: str, method: str, path: str, accept: tuple[int, ...] = (),
             **kwargs: Any) -> httpx.Response:
        """One request: a non-2xx (not accepted) raises ServiceProblem, no answer ServiceDown."""
        try:
            response = self.http.request(method, self.urls[service] + path, **kwargs)
        except httpx.HTTPError as error:
            raise self.down(service, error) from None
        if not response.is_success and response.status_code not in accept:
            raise problem_of(service, response)
        return response

    def get_json(self, service: str, path: str, accept: tuple[int, ...] = (),
                 **params: Any) -> dict[str, Any]:
        """GET a JSON object (empty parameters left out)."""
        clean = {key: value for key, value in params.items() if value not in (None, "")}
        try:
            body = self.call(service, "GET", path, accept, params=clean).json()
        except ValueError:
            raise ServiceProblem(service, 502, f"{path} did not answer JSON") from None
        return body if isinstance(body, dict) else {"items": body}

    def generate(self, payload: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        """(event, data) pairs from the generation service's SSE stream."""
        # several generation replicas: the gateway's /ask picks one (least busy, ready)
        replicas = len(self.settings.generation_replicas) > 1
        url = f"{self.urls['gateway']}/ask" if replicas else f"{self.urls['generation']}/generate"
        timeout = httpx.Timeout(10, read=READ_TIMEOUT_SEC)
        try:
            with self.http.stream("POST", url, json=payload, timeout=timeout) as response:
                if not response.is_success:
                    response.read()
                    raise problem_of("generation", response)
                yield from parse_sse(response.iter_lines())
        except httpx.HTTPError as error:
            raise self.down("generation", error) from None

    def feedback(self, answer_id: str, vote: str, comment: str = "") -> dict[str, Any]:
        """POST /feedback: a thumbs up or down on one answer."""
        body = {"answer_id": answer_id, "vote": vote, "comment": comment}
        return self.call("generation", "POST", "/feedback", json=body).json()

    def model(self) -> dict[str, Any]:
        return self.get_json("generation", "/model")

    def collection(self) -> dict[str, Any]:
        return self.get_json("retrieval", "/collection")

    def ready(self) -> dict[str, Any]:
        """The gateway's per-service readiness (its 503 body is still the breakdown)."""
        return self.get_json("gateway", "/ready", accept=(503,))

    def updates(self, limit: int = 10) -> dict[str, Any]:
        return self.get_json("gateway", "/updates", limit=limit)

    def update(self, update_id: str) -> dict[str, Any]:
        return self.get_json("gateway", f"/update/{update_id}")

    def jobs(self) -> dict[str, Any]:
        return self.get_json("gateway", "/jobs")

    def pages(self, state: str | None = None, q: str | None = None, limit: int = 50,
              offset: int = 0) -> dict[str, Any]:
        return self.get_json("gateway", "/pages", state=state, q=q, limit=limit, offset=offset)

    def start_update(self, token: str = "", force: bool = False) -> UpdateOutcome:
        """POST /update; 202, 401 and 429 come back as an outcome, other errors raise."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        params = {"force": "true"} if force else {}
        try:
            response = self.call("gateway", "POST", "/update", headers=headers, params=params)
        except ServiceProblem as problem:
            if problem.status in (401, 429):
                return UpdateOutcome(problem.status, detail=problem.detail,
                                     retry_after=problem.retry_after)
            raise
        body = response.json()
        return UpdateOutcome(response.status_code, update_id=body.get("update_id"))


def parse_sse(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Minimal Server-Sent Events parser: `event:` + `data:` lines, blank line ends an event."""
    event, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield event, _decode("\n".join(data))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    if data:
        yield event, _decode("\n".join(data))


def _decode(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        return {"text": data}
    return value if isinstance(value, dict) else {"value": value}
