"""The walls every process shares: who must hold a token, refusing to start unguarded, and no
cross-site writes.

A browser sends `Origin` (and `Sec-Fetch-Site`) on every cross-site POST, even a `no-cors` one that
cannot read the answer; curl, the services and the UI's server-side calls send neither. So a
mutating request that a browser marks as coming from another site is refused, and everything else
(the original project's `curl -X POST .../update`) keeps working.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.errors import problem
from shared.settings import Settings

log = logging.getLogger(__name__)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_loopback(host: str) -> bool:
    """True for localhost and any loopback address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def internal_token_required(settings: Settings) -> bool:
    """Mutating routes need the internal token once a process listens beyond loopback (or always,
    with REQUIRE_INTERNAL_TOKEN)."""
    return settings.require_internal_token or not is_loopback(settings.bind_host)


def bearer_matches(authorization: str | None, *tokens: str) -> bool:
    """Whether the header is `Bearer <t>` for one of the non-empty tokens (compared in constant
    time)."""
    given = (authorization or "").encode()
    return any(hmac.compare_digest(given, f"Bearer {token}".encode()) for token in tokens if token)


def startup_refusal(settings: Settings, process: str) -> str | None:
    """One line naming the variable to set when this API would listen beyond loopback unguarded."""
    if not is_loopback(settings.bind_host) and not settings.internal_token:
        return (f"mde {process}: BIND_HOST={settings.bind_host} listens beyond loopback with no "
                "internal token: set INTERNAL_TOKEN (make setup writes one to .secrets.env)")
    return None


def redis_refusal(settings: Settings) -> str | None:
    """One line naming the variable to set when Redis would listen beyond loopback unguarded."""
    if not is_loopback(settings.redis_host) and not settings.redis_password:
        return (f"mde redis: REDIS_HOST={settings.redis_host} listens beyond loopback with no "
                "password: set REDIS_PASSWORD (make setup writes one to .secrets.env)")
    return None


def cross_site(method: str, headers: dict[str, str], bind_host: str) -> str | None:
    """Why a browser-sent mutating request comes from another site (None when it does not)."""
    if method not in UNSAFE_METHODS:
        return None
    site, origin = headers.get("sec-fetch-site", "").lower(), headers.get("origin")
    if site in ("cross-site", "same-site"):  # same-site: another port of this host
        return f"Sec-Fetch-Site: {site}" + (f", Origin: {origin}" if origin else "")
    if origin is None:
        return None  # curl, the services, the UI's server-side client
    parts = urlsplit(origin)
    if not parts.hostname or parts.netloc.lower() != headers.get("host", "").lower():
        return f"Origin: {origin}"
    if is_loopback(bind_host) and not is_loopback(parts.hostname):
        return f"Origin: {origin} (a name that points at loopback: DNS rebinding)"
    return None


class SameSiteWrites:
    """ASGI middleware: 403 for a mutating request a browser sent from another site."""

    def __init__(self, app: ASGIApp, bind_host: str) -> None:
        self.app, self.bind_host = app, bind_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {key.decode("latin-1").lower(): value.decode("latin-1")
                       for key, value in scope["headers"]}
            reason = cross_site(scope["method"], headers, self.bind_host)
            if reason is not None:
                return await self._refuse(scope, receive, send, reason)
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, reason: str) -> None:
        log.warning("refused a cross-site %s %s (%s)", scope["method"], scope["path"], reason)
        detail = (f"cross-site request refused ({reason}): mutating routes take requests from "
                  "this origin, curl or the services, not from another web page")
        response = JSONResponse(problem(403, "Forbidden", detail, "forbidden"), status_code=403,
                                media_type="application/problem+json")
        await response(scope, receive, send)
