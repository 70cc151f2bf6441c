"""The session lookup cache: a request answered from memory within its TTL, every change made in this process
seen at once, another process's change within the TTL, never later than the sockets' access re-check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, update
from sqlmodel import col

from careteam.accounts import sessions as auth_sessions
from careteam.accounts.tables import AuthSession, User
from careteam.db.engine import make_engine, make_sessionmaker, unit_of_work
from careteam.settings import Settings
from tests.factories import make_user

ME = "/api/v1/me"


class Ticker:
    """The cache's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticker(app: Any) -> Ticker:
    ticks = Ticker()
    cache: auth_sessions.SessionCache = app.state.session_cache
    cache.clock = ticks  # the app's own cache, on a clock the test moves
    return ticks


@pytest.fixture
async def elsewhere(settings: Settings) -> AsyncIterator[Any]:
    """Another process's view of the same database: its own engine, which this app's cache does not watch."""
    engine = make_engine(settings.database_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _token(db: Any, login: Any) -> tuple[dict[str, str], int]:
    async with db() as s:
        user = await make_user(s, "cache.nurse")
        user_id = user.id or 0
    return await login("cache.nurse"), user_id


async def test_a_session_is_read_once_within_the_ttl(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any, ticker: Ticker
) -> None:
    headers, _ = await _token(db, login)
    statements: list[str] = []
    engine = app.state.engine.sync_engine

    def count(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        statements.append(sql)

    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert (await client.get(ME, headers=headers)).status_code == 200
        first = [s for s in statements if "auth_session" in s]
        statements.clear()
        assert (await client.get(ME, headers=headers)).status_code == 200
        cached = [s for s in statements if "auth_session" in s]
        statements.clear()
        ticker.now += app.state.settings.session_cache_ttl
        assert (await client.get(ME, headers=headers)).status_code == 200
        expired = [s for s in statements if "auth_session" in s]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(first) == 1  # the login answered a token; its first use reads it
    assert cached == []
    assert len(expired) == 1


async def test_a_change_in_this_process_is_seen_at_once(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any, ticker: Ticker
) -> None:
    headers, user_id = await _token(db, login)
    assert (await client.get(ME, headers=headers)).status_code == 200
    assert len(app.state.session_cache) == 1
    async with db() as s:  # a deactivation through any code path of this process's engine
        await s.exec(update(User).where(col(User.id) == user_id).values(active=False))
    assert len(app.state.session_cache) == 0
    assert (await client.get(ME, headers=headers)).status_code == 401


async def test_a_revoked_token_ends_at_once(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any, ticker: Ticker
) -> None:
    headers, _ = await _token(db, login)
    listed = (await client.get("/api/v1/me/sessions", headers=headers)).json()
    rows = listed["items"] if isinstance(listed, dict) else listed
    (current,) = [row["id"] for row in rows if row["current"]]
    assert (await client.delete(f"/api/v1/me/sessions/{current}", headers=headers)).status_code == 204
    assert (await client.get(ME, headers=headers)).status_code == 401


async def test_another_process_change_is_seen_within_the_ttl(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any, ticker: Ticker, elsewhere: Any
) -> None:
    headers, user_id = await _token(db, login)
    assert (await client.get(ME, headers=headers)).status_code == 200
    async with unit_of_work(elsewhere) as s:  # e.g. `careteam users deactivate` on another host
        await s.exec(delete(AuthSession).where(col(AuthSession.user_id) == user_id))
    ttl = app.state.settings.session_cache_ttl
    ticker.now += ttl - 0.01
    assert (await client.get(ME, headers=headers)).status_code == 200  # the bound, not a bug: see security.md
    ticker.now += 0.01
    assert (await client.get(ME, headers=headers)).status_code == 401


async def test_an_expired_token_is_refused_on_time_from_the_cache(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any, ticker: Ticker, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers, user_id = await _token(db, login)
    assert (await client.get(ME, headers=headers)).status_code == 200
    async with db() as s:
        expires = (await s.exec(_expiry(user_id))).one()
    monkeypatch.setattr(auth_sessions, "utcnow", lambda: expires)
    assert (await client.get(ME, headers=headers)).status_code == 401


def _expiry(user_id: int) -> Any:
    from sqlmodel import select

    return select(AuthSession.expires_at).where(AuthSession.user_id == user_id)


def test_the_ttl_is_never_longer_than_the_access_recheck() -> None:
    assert Settings(session_cache_seconds=3, ws_access_recheck_seconds=0.5).session_cache_ttl == 0.5
    assert Settings(session_cache_seconds=1, ws_access_recheck_seconds=3).session_cache_ttl == 1
    assert Settings(session_cache_seconds=0).session_cache_ttl == 0


def test_a_full_cache_starts_again() -> None:
    from careteam.db.types import utcnow

    cache = auth_sessions.SessionCache(3, limit=2, clock=Ticker())
    now = utcnow()
    cache.put(("a", "bearer"), "row-a", now)
    cache.put(("b", "bearer"), "row-b", now)
    cache.put(("c", "bearer"), "row-c", now)
    assert len(cache) == 1
    assert cache.get(("c", "bearer")) == ("row-c", now)
    off = auth_sessions.SessionCache(0, clock=Ticker())
    off.put(("a", "bearer"), "row-a", now)
    assert len(off) == 0
