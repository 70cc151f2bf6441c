"""A database that cannot be reached: 503 problem+json with Retry-After on the API, a 503 page for a browser,
a refused socket the client retries, and one log line for the outage, whatever the backend."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from careteam.app import create_app
from careteam.db import outage
from careteam.settings import Settings
from tests.live import LiveServer


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused (nothing else can take it meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
async def starting_up() -> AsyncIterator[int]:
    """A port where "PostgreSQL" answers every connection as a starting server does: FATAL 57P03."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        length = int.from_bytes(await reader.readexactly(4))
        await reader.readexactly(length - 4)  # the startup message
        fields = b"SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0\0"
        writer.write(b"E" + (4 + len(fields)).to_bytes(4) + fields)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.fixture(params=["postgres-refused", "postgres-starting-up", "sqlite-unopenable"])
def unreachable_url(request: pytest.FixtureRequest, closed_port: int, tmp_path: Path) -> str:
    if request.param == "postgres-refused":
        return f"postgresql+asyncpg://careteam@127.0.0.1:{closed_port}/careteam"
    if request.param == "postgres-starting-up":
        port = request.getfixturevalue("starting_up")
        return f"postgresql+asyncpg://careteam@127.0.0.1:{port}/careteam?ssl=disable"
    return f"sqlite+aiosqlite:///{tmp_path}/no-such-directory/careteam.db"


@pytest.fixture
async def away(settings: Settings, unreachable_url: str) -> AsyncIterator[Any]:
    outage.note_up()
    application = create_app(settings.model_copy(update={"database_url": unreachable_url}))
    async with application.router.lifespan_context(application):
        yield application
    outage.note_up()


@pytest.fixture
async def away_client(away: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=away), base_url="http://testserver") as c:
        yield c


BEARER = {"Authorization": "Bearer not-checked-while-the-database-is-away"}


def _assert_unavailable_problem(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert int(r.headers["retry-after"]) > 0
    body = r.json()
    assert body["type"] == "/problems/unavailable"
    assert body["status"] == 503
    assert "Traceback" not in r.text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/api/v1/me", {"headers": BEARER}),
        ("GET", "/api/v1/patients", {"headers": BEARER}),
        ("POST", "/api/v1/auth/token", {"json": {"username": "nurse", "password": "whatever-it-is"}}),
    ],
    ids=["session-lookup", "list", "sign-in"],
)
async def test_the_api_answers_503_problem_with_retry_after(
    away_client: httpx.AsyncClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    _assert_unavailable_problem(await away_client.request(method, path, **kwargs))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_browser_gets_the_503_page_without_details(away: Any, away_client: httpx.AsyncClient) -> None:
    cookie = f"{away.state.settings.session_cookie_name}=a-session-the-database-would-know"
    r = await away_client.get("/patients", headers={"Accept": "text/html", "Cookie": cookie})
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("text/html")
    assert int(r.headers["retry-after"]) > 0
    assert "Temporarily unavailable" in r.text
    assert "Try again" in r.text
    for leak in ("Traceback", "Error 111", "asyncpg", "sqlite3", "OperationalError", "127.0.0.1"):
        assert leak not in r.text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_many_failing_requests_log_one_line(
    away_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        for _ in range(20):
            _assert_unavailable_problem(await away_client.get("/api/v1/me", headers=BEARER))
    outages = [r for r in caplog.records if r.name == "careteam.db.outage"]
    assert [r.getMessage().split(" since ")[0] for r in outages] == ["database unavailable"]
    assert not [r for r in caplog.records if r.exc_info is not None]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_socket_is_refused_with_503(away: Any) -> None:
    server = LiveServer(away, away.state.settings)
    await server.start()
    try:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{server.port}/ws", additional_headers=BEARER):
                pass
        response = refused.value.response
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) > 0
        assert b'"/problems/unavailable"' in response.body
    finally:
        await server.stop()
