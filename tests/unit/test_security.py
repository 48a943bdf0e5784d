"""The shared walls (shared/security.py): loopback, bearer tokens, which requests are cross-site."""

from __future__ import annotations

import pytest

from shared.security import bearer_matches, cross_site, is_loopback

# What Chrome and Firefox send on `fetch("http://127.0.0.1:8680/update?force=true",
# {method: "POST", mode: "no-cors"})` from a page on another site.
EVIL = {"origin": "https://evil.example", "sec-fetch-site": "cross-site",
        "sec-fetch-mode": "no-cors", "sec-fetch-dest": "empty",
        "content-type": "text/plain;charset=UTF-8", "host": "127.0.0.1:8680"}


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.3.2.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("10.213.1.1", False), ("::", False), ("example.com", False)])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_bearer_matches_only_a_configured_token() -> None:
    assert bearer_matches("Bearer tok", "", "tok")
    assert not bearer_matches("Bearer ", "")  # fault: an empty token never opens a route
    assert not bearer_matches(None, "tok") and not bearer_matches("tok", "tok")


@pytest.mark.parametrize(("headers", "refused"), [
    (EVIL, True),                                                     # fault: the attack itself
    ({**EVIL, "sec-fetch-site": "same-site",                          # fault: another port here
      "origin": "http://127.0.0.1:9999"}, True),
    ({"origin": "null", "host": "127.0.0.1:8680"}, True),             # fault: sandbox, file://
    ({"origin": "https://evil.example", "host": "127.0.0.1:8680"}, True),  # fault: old browser
    ({"origin": "http://rebind.evil.example:8680",                    # fault: DNS rebinding
      "host": "rebind.evil.example:8680", "sec-fetch-site": "same-origin"}, True),
    ({"host": "127.0.0.1:8680"}, False),                              # curl, the services
    ({"host": "127.0.0.1:8680", "user-agent": "python-httpx/0.28"}, False),
    ({"origin": "http://127.0.0.1:8680", "host": "127.0.0.1:8680",   # the gateway's own /docs
      "sec-fetch-site": "same-origin"}, False),
])
def test_which_writes_are_cross_site(headers: dict[str, str], refused: bool) -> None:
    assert (cross_site("POST", headers, "127.0.0.1") is not None) is refused
    assert cross_site("GET", headers, "127.0.0.1") is None  # reads are not refused


def test_beyond_loopback_the_own_origin_is_any_host_name() -> None:
    """Bound to 0.0.0.0 the API is reached by name; the token guards it there, so only another
    site's page is refused."""
    same = {"origin": "http://gpu-box:8680", "host": "gpu-box:8680"}
    assert cross_site("POST", same, "0.0.0.0") is None
    assert cross_site("DELETE", {**same, "origin": "http://evil.example"}, "0.0.0.0") is not None
