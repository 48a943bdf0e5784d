"""Replica choice behind the gateway: least in flight first, a replica failing /ready skipped."""

from __future__ import annotations

import asyncio

import httpx

from services.gateway.replicas import Replicas

A, B, C = "http://a", "http://b", "http://c"


def test_least_in_flight_first() -> None:
    replicas = Replicas([A, B, C])
    replicas.started(A)
    replicas.started(A)
    replicas.started(B)
    assert replicas.order()[0] == C
    replicas.started(C)
    replicas.started(C)
    assert replicas.order()[0] == B
    replicas.ended(A)
    replicas.ended(A)
    assert replicas.order()[0] == A


def test_ties_rotate_so_idle_replicas_share_the_load() -> None:
    replicas = Replicas([A, B])
    assert {replicas.order()[0] for _ in range(4)} == {A, B}


def test_a_replica_failing_ready_is_skipped_until_it_recovers() -> None:
    """Fault injected: B's /ready answers 503, then refuses connections, then recovers."""
    state = {"b": 503}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "b":
            if state["b"] == 0:
                raise httpx.ConnectError("refused")
            return httpx.Response(state["b"])
        return httpx.Response(200)

    replicas = Replicas([A, B])
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    asyncio.run(replicas.probe(client))
    assert replicas.healthy == {A: True, B: False}
    replicas.started(A)
    replicas.started(A)
    assert [replicas.order()[-1] for _ in range(3)] == [B, B, B]  # even with more in flight on A
    state["b"] = 0
    asyncio.run(replicas.probe(client))
    assert not replicas.healthy[B]
    state["b"] = 200
    asyncio.run(replicas.probe(client))
    assert replicas.healthy[B]
