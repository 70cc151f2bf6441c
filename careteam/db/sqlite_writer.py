"""SQLite write transactions on the event loop's thread: a fast path through aiosqlite's private parts.

aiosqlite hands every call (cursor, execute, fetch, close) to its own thread and back: four thread switches
per statement, which cost more than the statement. The writer connection overrides aiosqlite's private
``_execute`` and reads its ``_connection``, ``_running`` and ``_thread``. They are checked once, at import
(:func:`contract_problem`); if any is missing or changed, :func:`async_creator` returns None, says why once
at INFO, and the engine connects as SQLAlchemy does by default: plain aiosqlite, every call on its thread.
tests/store/test_sqlite_writer.py fails when these names change.
"""

from __future__ import annotations

import inspect
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy import make_url

log = logging.getLogger(__name__)


def contract_problem() -> str | None:
    """What of aiosqlite's private parts the writer uses is missing or changed; None: all there."""
    execute = getattr(aiosqlite.Connection, "_execute", None)
    if execute is None or not inspect.iscoroutinefunction(execute):
        return "aiosqlite.Connection._execute is missing or not a coroutine function"
    params = [(p.name, p.kind) for p in inspect.signature(execute).parameters.values()]
    if params != [
        ("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("fn", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("args", inspect.Parameter.VAR_POSITIONAL),
        ("kwargs", inspect.Parameter.VAR_KEYWORD),
    ]:
        return f"aiosqlite.Connection._execute takes {params}, not (self, fn, *args, **kwargs)"
    # A connection not yet awaited: its thread is made but not started, nothing is opened.
    probe = aiosqlite.Connection(partial(sqlite3.connect, ":memory:"), iter_chunk_size=64)
    if not isinstance(getattr(probe, "_thread", None), threading.Thread):
        return "aiosqlite.Connection has no _thread (aiosqlite < 0.22)"
    if getattr(probe, "_running", None) is not True:
        return "aiosqlite.Connection._running is not True on a new connection"
    if "_connection" not in vars(probe) or probe._connection is not None:
        return "aiosqlite.Connection._connection is not None on a new connection"
    return None


# Checked once: the same aiosqlite for the life of the process.
PROBLEM = contract_problem()

_told: set[str] = set()


class _WriterConnection(aiosqlite.Connection):
    """aiosqlite, except that inside a transaction each call runs at once on the event loop's thread.

    A write transaction begins with BEGIN IMMEDIATE, which may wait (busy_timeout) for another process's
    write lock: that, like connecting and closing, runs on aiosqlite's thread unless the lock is free at once
    (``begin_immediate_at_once``). Once the transaction holds the write lock nothing in it waits for a lock
    (WAL: readers never block the writer), and units of work of this process take turns
    (``careteam.db.engine.unit_of_work``), so the connection is never used from two threads at once.
    """

    def __init__(self, connector: Callable[[], sqlite3.Connection], *, busy_timeout_ms: int) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self.busy_timeout_ms = busy_timeout_ms

    def begin_immediate_at_once(self) -> bool:
        """BEGIN IMMEDIATE on this thread if the write lock is free now; False: it is not, nothing begun.

        The usual case (no other process writing) then needs no thread switch either; otherwise the caller
        begins on aiosqlite's thread, where waiting for the lock blocks nothing else.
        """
        conn = self._connection
        if not self._running or conn is None or conn.in_transaction:
            return False
        conn.execute("PRAGMA busy_timeout=0")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # locked elsewhere (anything worse: the caller's BEGIN raises it)
            return False
        finally:
            conn.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
        return True

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        conn = self._connection
        # The pool's rollback when a connection comes back after its commit is a no-op: no switch for it.
        if self._running and conn is not None and (conn.in_transaction or fn == conn.rollback):
            return fn(*args, **kwargs)
        return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]


def async_creator(url: str, *, busy_timeout: float) -> Callable[[], Awaitable[aiosqlite.Connection]] | None:
    """SQLAlchemy's ``async_creator`` for a SQLite file's writer engine; None: connect as SQLAlchemy does.

    None for an in-memory database, and when aiosqlite's private parts are not what the writer expects.
    """
    if PROBLEM is not None:
        _tell(PROBLEM)
        return None
    parsed = make_url(url)
    args, kwargs = parsed.get_dialect()().create_connect_args(parsed)
    if not args or args[0] == ":memory:" or kwargs.get("uri"):
        return None
    # Used from aiosqlite's thread and, inside a transaction, from the loop's (never both at once).
    kwargs = {**kwargs, "timeout": busy_timeout, "check_same_thread": False}
    return partial(_connect, partial(sqlite3.connect, *args, **kwargs), int(busy_timeout * 1000))


def begin_immediate_at_once(driver_connection: Any) -> bool:
    """For the engine's "begin" hook: True if a writer connection began its transaction on this thread."""
    return isinstance(driver_connection, _WriterConnection) and driver_connection.begin_immediate_at_once()


async def _connect(connector: Callable[[], sqlite3.Connection], busy_timeout_ms: int) -> aiosqlite.Connection:
    conn = _WriterConnection(connector, busy_timeout_ms=busy_timeout_ms)
    conn._thread.daemon = True  # as SQLAlchemy does for aiosqlite: never hold up the interpreter's exit
    return await conn


def _tell(reason: str) -> None:
    if reason not in _told:
        _told.add(reason)
        log.info("SQLite writes run every statement on aiosqlite's thread: %s", reason)
