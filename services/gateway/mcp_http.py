"""The MCP server's streamable HTTP transport, mounted on the gateway at /mcp.

Stateless JSON mode: every POST carries a whole exchange, so any gateway replica can answer it.
Token rule as for the gateway's `/update`: once UPDATE_TOKEN is set or the internal token is
required (beyond loopback, or REQUIRE_INTERNAL_TOKEN), a request needs `Authorization: Bearer` with
one of the two. On loopback the SDK also refuses foreign Host and Origin
headers (DNS rebinding, cross-site pages).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

from services.gateway.mcp_server import build_server
from shared.errors import Unauthorized
from shared.security import bearer_matches, internal_token_required, is_loopback
from shared.service import problem_response
from shared.settings import Settings

PATH = "/mcp"


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Host and Origin checks on loopback; beyond it the token guards (the host name varies)."""
    if not is_loopback(settings.bind_host):
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"])


class McpEndpoint:
    """An ASGI app for /mcp; enter `running()` in the gateway's lifespan."""

    def __init__(self, settings: Settings) -> None:
        self.tokens = (settings.update_token, settings.internal_token)
        self.required = bool(settings.update_token) or internal_token_required(settings)
        self.server = build_server(settings)
        self.server.streamable_http_app(streamable_http_path=PATH, stateless_http=True,
                                        json_response=True,
                                        max_request_body_size=settings.max_body_bytes,
                                        transport_security=transport_security(settings))
        self.manager: StreamableHTTPSessionManager = self.server.session_manager

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self.manager.run():
            yield

    def authorized(self, scope: Scope) -> bool:
        if not self.required:
            return True
        sent = dict(scope["headers"]).get(b"authorization", b"").decode(errors="replace")
        return bearer_matches(sent, *self.tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.authorized(scope):
            error = Unauthorized(f"{PATH} needs Authorization: Bearer <UPDATE_TOKEN>")
            response = problem_response(error.status, "Unauthorized", error.detail, error.code,
                                        headers={"WWW-Authenticate": "Bearer"})
            return await response(scope, receive, send)
        await self.manager.handle_request(scope, receive, send)
