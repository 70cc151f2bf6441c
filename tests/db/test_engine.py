"""Engines and the unit of work: the pool's settings, JSON columns, and SQLite writers of one process taking
turns in arrival order, without "database is locked", without blocking the event loop on another process."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import SQLModel, col, select

from careteam.db import engine as store_engine
from careteam.db import sqlite_writer
from careteam.db.engine import make_engine, make_sessionmaker, unit_of_work
from careteam.events import log as events
from careteam.events import streams
from careteam.events.tables import StreamEvent
from careteam.settings import DatabaseSettings
from tests.factories import make_patient, make_plan, of_plan

PG_LIKE = "postgresql+asyncpg://care@db.invalid:5432/clinic"  # never connected to: pools open lazily


async def test_the_pool_is_sized_by_the_settings() -> None:
    engine = make_engine(PG_LIKE, pool=DatabaseSettings(db_pool_size=7, db_max_overflow=3))
    try:
        pool: Any = engine.pool
        assert (pool.size(), pool._max_overflow, pool._pre_ping) == (7, 3, False)
    finally:
        await engine.dispose()


async def test_the_pool_reads_its_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARETEAM_DB_POOL_SIZE", "13")
    monkeypatch.setenv("CARETEAM_DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("CARETEAM_DB_POOL_RECYCLE_SECONDS", "90")
    monkeypatch.setenv("CARETEAM_DB_POOL_PRE_PING", "true")
    engine = make_engine(PG_LIKE)
    try:
        pool: Any = engine.pool
        assert (pool.size(), pool._max_overflow, pool._recycle, pool._pre_ping) == (13, 0, 90, True)
    finally:
        await engine.dispose()


def test_the_default_pool_holds_forty_requests_in_flight(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DB_POOL_SIZE", "DB_MAX_OVERFLOW"):
        monkeypatch.delenv(f"CARETEAM_{name}", raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    assert DatabaseSettings().db_pool_size >= 40


async def test_json_columns_read_back_what_the_standard_library_would(database_url: str) -> None:
    """orjson writes and reads the JSON columns; a value means what ``json`` would have made of it."""
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
        value: dict[Any, Any] = {
            "title": "Ordonnance: répéter l'IRM ✓",
            "position": 1536.25,
            "n": 2**53,
            "nested": {"list": [1, 2.5, None, True, "x"], "empty": {}},
            1: "a non-string key",
            "tuple": (1, 2),
        }
        sessions = make_sessionmaker(engine)
        async with unit_of_work(sessions) as s:
            patient = await make_patient(s)
            plan = await make_plan(s, patient)
            await events.record(s, streams.plan(plan.id or 0), "test.json", value, actor=None)
        async with unit_of_work(sessions) as s:
            stored = (await s.exec(select(StreamEvent).where(*of_plan(plan.id)))).one()
        assert stored.data == json.loads(json.dumps(value))
    finally:
        await engine.dispose()


@pytest.fixture(params=["writer", "plain-aiosqlite"])
async def sqlite_sessions(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """A SQLite file's sessions, with the writer's fast path and, as when aiosqlite's private parts have
    changed (careteam/db/sqlite_writer.py), without it."""
    if request.param == "plain-aiosqlite":
        monkeypatch.setattr(sqlite_writer, "PROBLEM", "forced by the test")
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/writers.db")
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    sessions = make_sessionmaker(engine)
    async with unit_of_work(sessions) as s:
        plan = await make_plan(s, await make_patient(s))
    yield sessions, plan.id, tmp_path / "writers.db"
    await engine.dispose()


async def test_sqlite_writers_take_turns_in_arrival_order(sqlite_sessions: Any) -> None:
    """Forty writers at once on one plan: none fails, seqs are gapless, and each writer gets the seq of its
    place in the queue (SQLite's busy_timeout would wake them in no particular order, and late)."""
    sessions, plan_id, _ = sqlite_sessions

    async def writer(n: int) -> None:
        async with unit_of_work(sessions) as s:
            await asyncio.sleep(0.002)  # a request's other awaits, while it holds the write lock
            await events.record(s, streams.plan(plan_id), "test.write", {"n": n}, actor=None)

    await asyncio.gather(*(writer(n) for n in range(40)))
    async with unit_of_work(sessions) as s:
        rows = list(await s.exec(select(StreamEvent).where(*of_plan(plan_id)).order_by(col(StreamEvent.seq))))
    assert [r.seq for r in rows] == list(range(1, 41))
    assert [r.data["n"] for r in rows] == list(range(40)), "writers were not served in arrival order"


async def test_a_unit_of_work_inside_another_fails_instead_of_hanging(
    sqlite_sessions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions, _, _ = sqlite_sessions
    monkeypatch.setattr(store_engine, "BUSY_TIMEOUT_SECONDS", 0.2)
    async with unit_of_work(sessions):
        with pytest.raises(TimeoutError):
            async with unit_of_work(sessions):
                pass
    async with unit_of_work(sessions):  # the lock was released
        pass


async def test_waiting_for_another_processs_write_lock_does_not_block_the_event_loop(
    sqlite_sessions: Any,
) -> None:
    """Statements inside a write transaction run on the loop's thread; BEGIN IMMEDIATE, which may wait
    for another process (the CLI) to commit, still waits on aiosqlite's thread."""
    sessions, plan_id, path = sqlite_sessions
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    threads: set[int] = set()

    async def write() -> int:
        async with unit_of_work(sessions) as s:
            event = await events.record(s, streams.plan(plan_id), "test.write", {}, actor=None)
            threads.add(threading.get_ident())
            return event.seq

    try:
        writing = asyncio.create_task(write())
        ticks = 0
        for _ in range(20):  # the loop keeps running while the write waits for the other process
            await asyncio.sleep(0.01)
            ticks += 1
        assert not writing.done() and ticks == 20
    finally:
        other.execute("COMMIT")
        other.close()
    assert await asyncio.wait_for(writing, 10) == 1
    assert threads == {threading.get_ident()}
