"""CARETEAM_TRUSTED_PROXIES: whose X-Forwarded-For is believed as the client address (sign-in throttling,
audit, sessions). By default nobody's: a client cannot pick the address it is counted and audited under."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from careteam.app import create_app
from careteam.db.engine import unit_of_work
from careteam.settings import Settings
from tests.factories import PASSWORD, make_user
from tests.live import LiveServer

SPOOFED = "203.0.113.9"


@asynccontextmanager
async def _served(settings: Settings, peer: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with unit_of_work(app.state.sessions) as s:
            await make_user(s, "nurse_proxy")
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def _signed_in_from(client: httpx.AsyncClient, forwarded: str) -> str:
    """Sign in with this X-Forwarded-For; the address the new token is recorded under."""
    r = await client.post(
        "/api/v1/auth/token",
        json={"username": "nurse_proxy", "password": PASSWORD},
        headers={"X-Forwarded-For": forwarded},
    )
    assert r.status_code == 200, r.text
    listed = await client.get(
        "/api/v1/me/sessions", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    )
    (mine,) = [s for s in listed.json()["items"] if s["current"]]
    address: str = mine["client_ip"]
    return address


@pytest.mark.parametrize(
    ("trusted", "peer", "seen"),
    [
        ("", "127.0.0.1", "127.0.0.1"),  # the default: nobody's header, not even a local peer's
        ("10.0.0.0/8", "127.0.0.1", "127.0.0.1"),  # a peer outside the trusted networks
        ("10.0.0.0/8, 192.0.2.7", "10.1.2.3", SPOOFED),  # a trusted proxy (by network)
        ("10.0.0.0/8, 192.0.2.7", "192.0.2.7", SPOOFED),  # a trusted proxy (by address)
    ],
)
async def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(
    settings: Settings, trusted: str, peer: str, seen: str
) -> None:
    async with _served(settings.model_copy(update={"trusted_proxies": trusted}), peer) as client:
        assert await _signed_in_from(client, SPOOFED) == seen


async def test_a_chain_of_proxies_yields_the_first_untrusted_address(settings: Settings) -> None:
    # The client sent its own made-up header; the trusted proxy appended the address it saw.
    async with _served(settings.model_copy(update={"trusted_proxies": "10.0.0.0/8"}), "10.1.2.3") as client:
        assert await _signed_in_from(client, f"198.51.100.1, {SPOOFED}, 10.9.9.9") == SPOOFED


def test_an_entry_that_is_no_address_is_refused() -> None:
    with pytest.raises(ValueError, match="CARETEAM_TRUSTED_PROXIES"):
        Settings(trusted_proxies="10.0.0.0/8, proxy.internal")
    assert Settings(trusted_proxies=" 10.0.0.1 , fd00::/8 ").proxies == ["10.0.0.1", "fd00::/8"]


async def test_the_server_itself_ignores_a_local_peers_header(app: Any, settings: Settings) -> None:
    """Served as ``careteam serve`` serves it (uvicorn's proxy_headers would believe any local peer)."""
    async with unit_of_work(app.state.sessions) as s:
        await make_user(s, "nurse_proxy")
    server = LiveServer(app, settings)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert await _signed_in_from(client, SPOOFED) == "127.0.0.1"
    finally:
        await server.stop()
