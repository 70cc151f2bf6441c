"""Engines and the unit of work: the only place that commits."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import orjson
from sqlalchemy import Engine, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import configure_mappers
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.db import outage, sqlite_writer
from careteam.settings import DatabaseSettings


def dumps_json(value: Any) -> str:
    """JSON columns: orjson, compact; non-string keys become strings, as the standard library does."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


log = logging.getLogger(__name__)

BUSY_TIMEOUT_SECONDS = 30

M = TypeVar("M")

# SQLite engines whose transactions write (BEGIN IMMEDIATE), each with its in-process write lock and the
# event loop the lock belongs to (made on first use: an asyncio.Lock must not outlive its loop).
_sqlite_writers: weakref.WeakKeyDictionary[Engine, tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None] = (
    weakref.WeakKeyDictionary()
)


# hide_parameters: a failing statement's values (names, MRNs) never reach a traceback or a log line.
def make_engine(
    url: str, *, echo: bool = False, immediate: bool = True, pool: DatabaseSettings | None = None
) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and foreign keys on every connection.

    ``immediate=False`` makes a SQLite engine for read-only work (the realtime hub's log reads): its
    transactions take no write lock, so with WAL they never wait behind a writer. ``pool`` sizes the
    PostgreSQL pool (default: the ``CARETEAM_DB_*`` settings from the environment).
    """
    json = {"json_serializer": dumps_json, "json_deserializer": orjson.loads}
    if url.startswith("sqlite"):
        # Writers run their transactions' statements on the loop's thread where aiosqlite allows it.
        creator = sqlite_writer.async_creator(url, busy_timeout=BUSY_TIMEOUT_SECONDS) if immediate else None
        engine = create_async_engine(
            url,
            echo=echo,
            hide_parameters=True,
            connect_args={"timeout": BUSY_TIMEOUT_SECONDS},
            **({"async_creator": creator} if creator else {}),
            **json,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL: readers never block the writer; busy_timeout: writers of other processes (the CLI)
            # queue instead of failing. Hand transaction control to the "begin" hook below (the SQLAlchemy
            # aiosqlite recipe).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers take the write lock at BEGIN, so two of them queue instead of one failing with
            # "database is locked" when a read transaction tries to upgrade.
            if sqlite_writer.begin_immediate_at_once(conn.connection.driver_connection):
                return
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        if immediate:
            _sqlite_writers[engine.sync_engine] = None
        return engine
    pool = pool or DatabaseSettings()
    return create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_size=pool.db_pool_size,
        max_overflow=pool.db_max_overflow,
        pool_recycle=pool.db_pool_recycle_seconds,
        pool_pre_ping=pool.db_pool_pre_ping,
        **json,
    )


def loaded(model: type[M], values: Mapping[str, Any]) -> M:
    """An ORM object holding a row's values as if just loaded: no change pending, in no session.

    What the ORM does for each row it loads; for rows read or written with Core on a hot path. The
    constructor would treat each value as a change (an event per attribute, several times slower).
    """
    configure_mappers()  # attribute access needs configured mappers; a flag check once they are
    obj: M = sa_inspect(model).class_manager.new_instance()
    obj.__dict__.update(values)
    return obj


def make_sessionmaker(
    engine: AsyncEngine, *, info: Mapping[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions of ``engine``; ``info`` is copied into each session's ``info`` (the events' publisher)."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False, info=dict(info or {}))


# Called with the session once its unit of work has committed (its ``info`` still holds what was recorded).
AfterCommit = Callable[[AsyncSession], Awaitable[None]]
_AFTER_COMMIT = "careteam.after_commit"


def after_commit(session: AsyncSession, hook: AfterCommit) -> None:
    """Run ``hook(session)`` once this session's unit of work has committed; never if it rolls back.

    Registered once however often it is asked for (a write that records three events publishes once), run
    in the order first asked. How a write anywhere (a route, the CLI, a job, an import) reaches live viewers:
    recording an event registers the hook that publishes it.
    """
    hooks: list[AfterCommit] = session.info.setdefault(_AFTER_COMMIT, [])
    if hook not in hooks:
        hooks.append(hook)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: commit when the block ends normally, roll back on any exception; then, committed
    only, the session's after-commit hooks (``after_commit``), outside SQLite's write lock.

    On SQLite every unit of work writes (BEGIN IMMEDIATE), and SQLite has one writer at a time: units of
    work of this process queue on an in-process lock, in arrival order, instead of polling the database
    lock with busy_timeout sleeps (which wakes writers late and out of order). Other processes (the CLI)
    still wait on busy_timeout.
    """
    lock = _write_lock(sessions)
    if lock is None:
        async with _transaction(sessions) as session:
            yield session
    else:
        if lock.locked():
            # As long as busy_timeout: a unit of work opened inside another one fails instead of hanging.
            async with asyncio.timeout(BUSY_TIMEOUT_SECONDS):
                await lock.acquire()
        else:
            await lock.acquire()
        try:
            async with _transaction(sessions) as session:
                yield session
        finally:
            lock.release()
    await _run_after_commit(session)


async def _run_after_commit(session: AsyncSession) -> None:
    for hook in session.info.pop(_AFTER_COMMIT, ()):
        try:
            await hook(session)
        except Exception:
            # The write has committed: a hook that fails (a broker outage) must not turn it into an error.
            log.exception("after-commit hook %s failed", getattr(hook, "__qualname__", hook))


@asynccontextmanager
async def _transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        try:
            yield session
            await session.commit()
            outage.note_up()
        except BaseException:
            await session.rollback()
            raise


def _write_lock(sessions: async_sessionmaker[AsyncSession]) -> asyncio.Lock | None:
    bind = sessions.kw.get("bind")
    if not isinstance(bind, AsyncEngine) or bind.sync_engine not in _sqlite_writers:
        return None
    loop = asyncio.get_running_loop()
    held = _sqlite_writers[bind.sync_engine]
    if held is None or held[0] is not loop:
        held = _sqlite_writers[bind.sync_engine] = (loop, asyncio.Lock())
    return held[1]
