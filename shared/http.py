"""HTTP between services: one client that turns an upstream problem document back into a typed error."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from shared.errors import BY_CODE, ServiceError, UpstreamError

log = logging.getLogger(__name__)


def raise_for_problem(response: httpx.Response, service: str) -> None:
    """Re-raise a non-2xx answer as the ServiceError subclass its problem `type` names."""
    if response.is_success:
        return
    detail, code = response.text[:300], ""
    try:
        body = response.json()
        detail = str(body.get("detail", detail))
        code = str(body.get("type", "")).removeprefix("urn:mde:")
    except ValueError:
        pass
    error_class = BY_CODE.get(code)
    retry_after = response.headers.get("retry-after")
    if error_class is None:
        error = ServiceError(f"{service}: HTTP {response.status_code}: {detail}")
        error.status = response.status_code
        raise error
    raise error_class(f"{service}: {detail}",
                      retry_after=int(retry_after) if retry_after and retry_after.isdigit() else None)


class ServiceClient:
    """A small synchronous client for one service, with the internal token when there is one."""

    def __init__(self, name: str, base_url: str, token: str = "", timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.name = name
        self.client = httpx.Client(base_url=base_url, headers=headers, timeout=timeout,
                                   transport=transport)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise UpstreamError(f"{self.name} at {self.client.base_url} is not reachable "
                                f"({type(error).__name__}: {error})") from None
        raise_for_problem(response, self.name)
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        self.client.close()


def service_client(name: str, settings: Any = None, timeout: float = 30.0) -> ServiceClient:
    """A client for a named service (`crawler`, `retrieval`, ...) from settings."""
    from shared.settings import get_settings

    settings = settings or get_settings()
    return ServiceClient(name, settings.service_url(name), settings.internal_token, timeout)


def wait_ready(url: str, seconds: float, path: str = "/ready",
               alive: Callable[[], bool] = lambda: True) -> bool:
    """Poll GET url+path until it answers 200 (True), the time is up or `alive()` turns False."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive():
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False
