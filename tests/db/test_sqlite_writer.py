"""The SQLite writer overrides aiosqlite's private ``_execute`` and reads ``_connection``, ``_running`` and
``_thread``: these tests fail when aiosqlite changes them, and show where a write transaction's statements
run with the fast path and without it. tests/db/test_engine.py runs its SQLite tests both ways."""

from __future__ import annotations

import logging
import threading
import uuid
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event, text

from careteam.db import sqlite_writer
from careteam.db.engine import make_engine, make_sessionmaker, unit_of_work


def test_aiosqlite_has_what_the_writer_overrides_and_reads() -> None:
    assert sqlite_writer.contract_problem() is None
    assert sqlite_writer.PROBLEM is None


def test_the_check_fails_when_execute_changes_its_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    async def _execute(self: Any, fn: Any) -> Any:
        return fn()

    monkeypatch.setattr(aiosqlite.Connection, "_execute", _execute)
    problem = sqlite_writer.contract_problem()
    assert problem is not None and "_execute" in problem


def test_the_check_fails_without_a_thread_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in aiosqlite < 0.22, where the connection was itself the thread."""
    init = aiosqlite.Connection.__init__

    def without_thread(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.__dict__["_worker"] = self.__dict__.pop("_thread")

    monkeypatch.setattr(aiosqlite.Connection, "__init__", without_thread)
    problem = sqlite_writer.contract_problem()
    assert problem is not None and "_thread" in problem


@pytest.mark.parametrize("fast", [True, False], ids=["writer", "plain-aiosqlite"])
async def test_where_a_write_transactions_statements_run(
    fast: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """On the event loop's thread with the writer; on aiosqlite's without it (the check failed, said once
    at INFO); the rows are written either way."""
    reason = f"forced by the test {uuid.uuid4()}"
    if not fast:
        monkeypatch.setattr(sqlite_writer, "PROBLEM", reason)
    caplog.set_level(logging.INFO, logger=sqlite_writer.__name__)
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/threads.db")

    @event.listens_for(engine.sync_engine, "connect")
    def _thread_function(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.create_function("thread_id", 0, threading.get_ident)

    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (n INTEGER)"))
        sessions = make_sessionmaker(engine)
        async with unit_of_work(sessions) as s:
            tx = await s.connection()
            await tx.execute(text("INSERT INTO t VALUES (1), (2)"))
            ran_on = (await tx.execute(text("SELECT thread_id()"))).scalar_one()
        async with unit_of_work(sessions) as s:
            assert (await (await s.connection()).execute(text("SELECT sum(n) FROM t"))).scalar_one() == 3
    finally:
        await engine.dispose()
    assert (ran_on == threading.get_ident()) is fast
    told = [r for r in caplog.records if reason in r.getMessage()]
    assert len(told) == (0 if fast else 1)
    assert all(r.levelno == logging.INFO for r in told)
