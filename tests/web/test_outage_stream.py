"""Done when (#17): PostgreSQL cut during a stream of writes. Every request is answered, 2xx or 503
problem+json; every 2xx write is stored whole (task, event, audit row) and no 503 write is; the server
recovers without a restart; the log has one line when the database goes and one when it is back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import col, select
from websockets.asyncio.client import connect

from careteam.app import create_app
from careteam.audit.tables import AuditEntry
from careteam.db import outage
from careteam.events.tables import StreamEvent
from careteam.plans.tables import Task
from careteam.settings import Settings
from tests.board_world import make_board
from tests.factories import PASSWORD
from tests.live import LiveServer
from tests.pg_proxy import PgProxy
from tests.realtime.conftest import RECV_TIMEOUT

# Alone: PostgreSQL is cut (tests/pg_proxy.py) under a live server with writers racing the cut.
pytestmark = pytest.mark.alone

WRITERS = 4
BEFORE, DURING, AFTER = 20, 20, 20  # answers to wait for: 2xx before the cut, 503 during, 2xx after


@dataclass
class _Stream:
    """The answers so far, and a condition to wait on for a count of them."""

    answers: dict[str, tuple[int, str, str | None, bytes]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # no answer at all
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    stop: bool = False

    def count(self, status: int) -> int:
        return sum(1 for s, *_ in self.answers.values() if s == status)

    async def until(self, status: int, at_least: int) -> None:
        async with asyncio.timeout(60), self.changed:
            await self.changed.wait_for(lambda: self.count(status) >= at_least or self.went_wrong())

    def went_wrong(self) -> bool:
        """A request without an answer, or an answer other than 2xx or 503: the test has failed already."""
        return bool(self.failures) or any(s not in (201, 503) for s, *_ in self.answers.values())


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[PgProxy]:
    url = make_url(settings.database_url)
    p = PgProxy(url.host or "127.0.0.1", url.port or 5432)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def proxied(settings: Settings, proxy: PgProxy) -> AsyncIterator[LiveServer]:
    url = make_url(settings.database_url).set(host="127.0.0.1", port=proxy.port, query={"ssl": "disable"})
    app = create_app(settings.model_copy(update={"database_url": url.render_as_string(False)}))
    async with app.router.lifespan_context(app):
        server = LiveServer(app, app.state.settings)
        await server.start()
        yield server
        await server.stop()


def _request_id(title: str) -> str:
    return title.replace(" ", "-")


async def _writer(
    client: httpx.AsyncClient, stream: _Stream, plan_id: int, me: int, headers: dict[str, str]
) -> None:
    n = 0
    while not stream.stop:
        n += 1
        title = f"outage write {me}-{n}"
        try:
            r = await client.post(
                f"/api/v1/plans/{plan_id}/tasks",
                json={"title": title, "discipline": "nurse"},
                headers={**headers, "X-Request-ID": _request_id(title)},
            )
        except httpx.HTTPError as exc:
            stream.failures[title] = repr(exc)
        else:
            stream.answers[title] = (
                r.status_code,
                r.headers.get("content-type", ""),
                r.headers.get("retry-after"),
                r.content,
            )
        async with stream.changed:
            stream.changed.notify_all()


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_postgresql_cut_during_a_write_stream(
    db: Any, proxy: PgProxy, proxied: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    outage.note_up()
    caplog.clear()
    b = await make_board(db)
    stream = _Stream()
    async with httpx.AsyncClient(base_url=proxied.url, timeout=30) as client:
        r = await client.post("/api/v1/auth/token", json={"username": b.nurse, "password": PASSWORD})
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        with caplog.at_level(logging.INFO, logger="careteam.db.outage"):
            writers = [
                asyncio.create_task(_writer(client, stream, b.plan_id, i, headers)) for i in range(WRITERS)
            ]
            try:
                await stream.until(201, BEFORE)
                await proxy.cut()
                await stream.until(503, DURING)
                await proxy.restore()
                recovered_from = stream.count(201)
                await stream.until(201, recovered_from + AFTER)  # the same server, no restart
            finally:
                stream.stop = True
                await asyncio.gather(*writers)

    assert stream.failures == {}, "requests without an answer"
    others = {t: (s, body[:200]) for t, (s, *_, body) in stream.answers.items() if s not in (201, 503)}
    assert others == {}, "answers other than 2xx or 503"
    for status, content_type, retry_after, body in stream.answers.values():
        if status == 503:
            assert content_type == "application/problem+json"
            assert retry_after is not None and int(retry_after) > 0
            assert orjson.loads(body)["type"] == "/problems/unavailable"
    written = {t for t, (s, *_) in stream.answers.items() if s == 201}
    refused = {t for t, (s, *_) in stream.answers.items() if s == 503}
    assert len(refused) >= DURING

    async with db() as s:
        tasks = {t.title: t for t in (await s.exec(select(Task).where(col(Task.plan_id) == b.plan_id))).all()}
        audits = (await s.exec(select(AuditEntry).where(col(AuditEntry.resource_type) == "task"))).all()
        events = (await s.exec(select(StreamEvent).where(col(StreamEvent.stream_id) == b.plan_id))).all()
    # Every 2xx write is stored whole; no 503 write left anything (the task, its event, its audit row).
    assert set(tasks) == written
    created = {(a.resource_id, a.request_id) for a in audits if a.action == "create"}
    assert created == {(str(tasks[t].id), _request_id(t)) for t in written}
    assert not {a.request_id for a in audits} & {_request_id(t) for t in refused}
    evented = {
        title for title in written | refused for e in events if f'"{title}"' in orjson.dumps(e.data).decode()
    }
    assert evented == written

    lines = [
        r.getMessage().split(" at ")[0].split(" since ")[0]
        for r in caplog.records
        if r.name == "careteam.db.outage"
    ]
    assert lines == ["database unavailable", "database back"]
    tracebacks = [
        (r.name, r.getMessage()) for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR
    ]
    assert tracebacks == []


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_an_open_socket_is_told_unavailable_and_subscribes_once_the_database_is_back(
    db: Any, proxy: PgProxy, proxied: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    outage.note_up()
    caplog.clear()
    b = await make_board(db)
    async with httpx.AsyncClient(base_url=proxied.url) as client:
        r = await client.post("/api/v1/auth/token", json={"username": b.nurse, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    subscribe = orjson.dumps({"type": "subscribe", "plan_id": b.plan_id, "after": 0}).decode()
    async with connect(f"ws://127.0.0.1:{proxied.port}/ws", additional_headers=headers) as ws:
        await proxy.cut()
        await ws.send(subscribe)
        async with asyncio.timeout(RECV_TIMEOUT):
            frame = orjson.loads(await ws.recv())
        assert (frame["type"], frame["code"]) == ("error", "unavailable")
        await proxy.restore()
        await ws.send(subscribe)
        async with asyncio.timeout(RECV_TIMEOUT):
            frame = orjson.loads(await ws.recv())
        assert frame["type"] == "subscribed", frame
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert [r.getMessage().split(" since ")[0] for r in caplog.records if r.name == "careteam.db.outage"][
        :1
    ] == ["database unavailable"]
