"""/healthz says the process answers; /readyz says it can serve: database reachable with its migrations at
head, broker connected. Unauthenticated, no patient data, 503 with Retry-After when not ready."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from careteam.app import create_app
from careteam.db import outage
from careteam.db.migrate import head_revision
from careteam.settings import Settings
from tests.live import LiveServer
from tests.pg_proxy import PgProxy
from tests.web.test_outage import away, away_client, closed_port, starting_up, unreachable_url
from tests.web.test_outage_stream import proxied, proxy

__all__ = ["away", "away_client", "closed_port", "proxied", "proxy", "starting_up", "unreachable_url"]


@pytest.fixture
async def stamped(app: Any) -> None:
    """The test database is made from the models (tests/conftest.py), not by Alembic: record it at head, as
    ``careteam db upgrade`` would have."""
    await _stamp(app)


async def _stamp(app: Any) -> None:
    async with app.state.engine.begin() as conn:
        await conn.execute(
            sa.text("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL)")
        )
        await conn.execute(sa.text("DELETE FROM alembic_version"))
        await conn.execute(
            sa.text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": head_revision()}
        )


async def test_healthz_answers_without_a_session(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "alive"}
    assert r.headers["cache-control"] == "no-store"


async def test_readyz_is_ready_with_the_database_at_head_and_the_broker_connected(
    client: httpx.AsyncClient, stamped: None
) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "broker": "ok"},
    }
    assert "retry-after" not in r.headers


async def test_readyz_is_not_ready_while_the_database_is_away(away_client: httpx.AsyncClient) -> None:
    r = await away_client.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"status": "not ready", "checks": {"database": "unavailable", "broker": "ok"}}
    assert r.headers["retry-after"] == str(outage.RETRY_AFTER_SECONDS)
    assert (await away_client.get("/healthz")).status_code == 200  # alive all the same


async def test_readyz_is_not_ready_with_a_schema_behind_the_code(
    app: Any, client: httpx.AsyncClient, stamped: None
) -> None:
    async with app.state.engine.begin() as conn:
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001_older'"))
    try:
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"] == {"database": "ok", "migrations": "not at head", "broker": "ok"}
    finally:
        async with app.state.engine.begin() as conn:
            await conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": head_revision()})
    assert (await client.get("/readyz")).status_code == 200


@pytest.fixture
async def brokerless(
    app: Any, stamped: None, settings: Settings, closed_port: int
) -> AsyncIterator[httpx.AsyncClient]:
    """The app (on the stamped test database) with a Redis broker nobody answers for."""
    application = create_app(settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{closed_port}/0"}))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_readyz_is_not_ready_without_the_broker(brokerless: httpx.AsyncClient) -> None:
    r = await brokerless.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"] == {"database": "ok", "migrations": "ok", "broker": "unavailable"}


@pytest.mark.alone  # cuts PostgreSQL under a live server (tests/pg_proxy.py)
@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_readyz_follows_postgresql_going_away_and_coming_back(
    db: Any, proxy: PgProxy, proxied: LiveServer
) -> None:
    """The first /readyz after the cut is 503 and the first after the return is 200: nothing lingers."""
    await _stamp(proxied.app)
    async with httpx.AsyncClient(base_url=proxied.url) as client:
        assert (await client.get("/readyz")).status_code == 200
        await proxy.cut()
        gone = await client.get("/readyz")
        assert gone.status_code == 503 and gone.json()["checks"]["database"] == "unavailable"
        await proxy.restore()
        back = await client.get("/readyz")
        assert back.status_code == 200, back.text
    outage.note_up()
