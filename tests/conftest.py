"""Fixtures: one database per backend per run, each test isolated, the app served in-process.

Backends: SQLite always; PostgreSQL when CARETEAM_TEST_DATABASE_URL is set. Set but unreachable fails the
run: a configured database that silently skips would hide a broken deployment target.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

import careteam.tables  # noqa: F401 - registers every feature's tables
from careteam.app import create_app
from careteam.db import migrate
from careteam.db.engine import make_engine, unit_of_work
from careteam.settings import Settings
from tests.factories import PASSWORD

# The servers' own scheduled jobs (the event log's pruning) stay out of the tests' way: a poll writes, and a
# test that counts statements or rows must see only its own. tests/jobs runs the runner on purpose.
os.environ.setdefault("CARETEAM_JOBS_ENABLED", "false")

# The server CI points at; each run (each xdist worker) makes its own databases on it, named after the run
# and the worker, and drops them when it ends, so two runs on one machine, or two workers of one run
# (scripts/test runs pytest -n 2), never share a table, a NOTIFY channel or a lock.
PG_ADMIN_URL = os.environ.get("CARETEAM_TEST_DATABASE_URL", "")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
RUN_DATABASE = f"careteam_test_{WORKER}_{os.getpid()}_{secrets.token_hex(3)}"
PG_URL = make_url(PG_ADMIN_URL).set(database=RUN_DATABASE).render_as_string(False) if PG_ADMIN_URL else ""
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

_pg_ready = False


def run_database(label: str) -> str:
    """The name of a scratch database of this run (dropped with the run's own at its end)."""
    return f"{RUN_DATABASE}_{label}"


def run_database_url(label: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=run_database(label)).render_as_string(False)


async def _on_server(*statements: str) -> None:
    admin = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await admin.dispose()


async def _drop_run_databases() -> None:
    admin = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            names = await conn.execute(
                text("SELECT datname FROM pg_database WHERE datname = :run OR datname LIKE :scratch"),
                {"run": RUN_DATABASE, "scratch": f"{RUN_DATABASE}\\_%"},
            )
            for (name,) in names.all():
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (--dist loadgroup)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests all go to one xdist worker: two chromiums, each with its page's server, on a 2-core
    machine starve each other's deadlines; one chromium beside the other worker's tests does not."""
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.xdist_group("browser"))


def pytest_report_header() -> str:
    return f"careteam test database: {RUN_DATABASE if PG_ADMIN_URL else 'none (SQLite only)'}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _pg_ready:
        asyncio.run(_drop_run_databases())


async def _prepare_postgres() -> None:
    """Once per run: create the run's database and migrate it to head (tests run on the migrated schema)."""
    global _pg_ready
    if _pg_ready:
        return
    try:
        await _on_server(f'CREATE DATABASE "{RUN_DATABASE}"')
    except OSError as exc:  # connection refused and friends
        pytest.fail(f"CARETEAM_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {exc}")
    _pg_ready = True
    await asyncio.to_thread(migrate.upgrade, PG_URL)


async def _empty_postgres() -> None:
    """Every table emptied and every sequence back at its start: DELETE, children first, not TRUNCATE.

    A test leaves a few rows. TRUNCATE of the 31 tables makes new files for each and took 0.8-1.2 s a test on
    the 2-core CI machine; DELETE of those few rows and setval of the sequences took 0.1-0.2 s (measured).
    The sequences restart so that a test's ids do not depend on what ran before it.
    """
    engine = make_engine(PG_URL)
    try:
        async with engine.begin() as conn:
            for table in reversed(SQLModel.metadata.sorted_tables):
                await conn.execute(text(f'DELETE FROM "{table.name}"'))
            await conn.execute(
                text(
                    "SELECT setval(s.seqrelid, s.seqstart, false) FROM pg_sequence s"
                    " JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = 'public'::regnamespace"
                )
            )
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not PG_URL:
        pytest.skip("CARETEAM_TEST_DATABASE_URL not set")
    return str(request.param)


@pytest.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file with the schema, made once per run (per worker); each test gets a copy of it."""
    path = tmp_path_factory.mktemp("sqlite-template") / "careteam-template.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
    finally:
        await engine.dispose()  # the last connection closed: the WAL is checkpointed into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture
async def database_url(backend: str, tmp_path: Path, sqlite_template: Path) -> AsyncIterator[str]:
    if backend == "postgres":
        await _prepare_postgres()
        await _empty_postgres()
        yield PG_URL
        return
    path = tmp_path / "careteam-test.db"
    shutil.copyfile(sqlite_template, path)
    yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        broker_url="memory://",
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        allowed_origins="http://testserver,http://127.0.0.1",
        ws_heartbeat_seconds=30,
        ws_access_recheck_seconds=0.5,
    )


def _stopped() -> float:
    return 0.0


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        # The session cache's entries never age here: a request reads its session or not by what the test
        # did (a change to sessions or users empties it), never by how fast the machine is. Its time bound
        # is tested on a clock of its own (tests/accounts/test_session_cache.py).
        application.state.session_cache.clock = _stopped
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def db(app: Any) -> Callable[[], AbstractAsyncContextManager[AsyncSession]]:
    """``async with db() as session:`` one committed unit of work, for arranging and inspecting data."""
    return lambda: unit_of_work(app.state.sessions)


@pytest.fixture
def login(client: httpx.AsyncClient) -> Callable[..., Any]:
    """``headers = await login("nurse")``: bearer headers for a user made with the factories' password."""

    async def _login(username: str, password: str = PASSWORD) -> dict[str, str]:
        r = await client.post("/api/v1/auth/token", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    return _login
