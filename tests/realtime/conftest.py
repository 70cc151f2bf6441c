"""Realtime fixtures: the app served by a real uvicorn, websocket clients, a care team with a plan.

The app, its database (SQLite, and PostgreSQL when configured) and the base ``settings`` come from
tests/conftest.py; here the queue is small, so a slow consumer shows up after a few frames, and the replay
window is short, so "too far behind" needs few events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from careteam.accounts import sessions as auth_sessions
from careteam.accounts.tables import User
from careteam.core.actor import Actor
from careteam.db.engine import make_sessionmaker, unit_of_work
from careteam.patients.codes import TeamRole
from careteam.realtime.broker.memory import MemoryBroker
from careteam.settings import Settings
from tests.factories import emit, make_patient, make_plan, make_user
from tests.live import LiveServer

RECV_TIMEOUT = 5.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"ws_queue_size": 16, "replay_window": 600, "ws_heartbeat_seconds": 1.0}
    )


@pytest.fixture
async def live_server(app: Any, settings: Settings) -> AsyncIterator[str]:
    """The ``app`` (lifespan already running) on a real uvicorn, as the CLI serves it; yields ws://host:port."""
    server = LiveServer(app, settings)
    await server.start()
    try:
        yield f"ws://127.0.0.1:{server.port}/ws"
    finally:
        await server.stop()


class Viewer:
    """A websocket client that reads frames as JSON; heartbeats are counted and skipped."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.heartbeats = 0

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(frame if isinstance(frame, str | bytes) else orjson.dumps(frame).decode())

    async def recv(self, within: float = RECV_TIMEOUT) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                frame: dict[str, Any] = orjson.loads(await self.ws.recv())
                if frame["type"] != "heartbeat":
                    return frame
                self.heartbeats += 1

    async def events(self, count: int, within: float = RECV_TIMEOUT) -> list[dict[str, Any]]:
        """The next ``count`` event frames; any other frame fails the test."""
        out: list[dict[str, Any]] = []
        async with asyncio.timeout(within):
            while len(out) < count:
                frame = await self.recv()
                assert frame["type"] == "event", frame
                out.append(frame)
        return out

    async def quiet(self, app: Any) -> None:
        """Assert that nothing but heartbeats is on its way to this socket: a barrier, not a wait.

        Every notice published so far is first handed to the hub (the in-process broker's ``delivered()``),
        which has then queued whatever it fans out; then a ping, whose pong the server queues behind all of
        that. Any frame before the pong fails the test. (No "nothing arrives within N seconds" sampling: on a
        loaded machine a late frame would slip past it.) Frames of periodic jobs (sweep, access re-check)
        are covered only for the runs that have completed: a test about them waits for those runs first.
        """
        broker = app.state.broker
        assert isinstance(broker, MemoryBroker), "quiet() needs the in-process broker's delivered()"
        await broker.delivered()
        await self.send({"type": "ping"})
        frame = await self.recv()
        assert frame == {"type": "pong"}, f"unexpected frame {frame}"

    async def close(self) -> None:
        await self.ws.close()


Open = Callable[..., Awaitable[Viewer]]


@pytest.fixture
async def open_viewer(live_server: str) -> AsyncIterator[Open]:
    """``await open_viewer(headers, origin=None)``: a connected Viewer, closed after the test."""
    opened: list[Viewer] = []

    async def _open(headers: dict[str, str] | None = None, *, origin: str | None = None, **kw: Any) -> Viewer:
        ws = await connect(
            live_server,
            additional_headers=headers or {},
            origin=origin,  # type: ignore[arg-type]
            open_timeout=RECV_TIMEOUT,
            **kw,
        )
        viewer = Viewer(ws)
        opened.append(viewer)
        return viewer

    yield _open
    for viewer in opened:
        await viewer.ws.close()


@dataclass
class Team:
    """Two clinicians on one patient's team with one plan, and an outsider on another team."""

    nurse: User
    therapist: User
    outsider: User
    plan_id: int
    other_plan_id: int


@pytest.fixture
async def team(db: Any) -> Team:
    async with db() as session:
        nurse = await make_user(session)
        therapist = await make_user(session)
        outsider = await make_user(session)
        patient = await make_patient(session, members=[(nurse, TeamRole.lead), (therapist, TeamRole.member)])
        other = await make_patient(session, members=[(outsider, TeamRole.lead)])
        plan = await make_plan(session, patient)
        other_plan = await make_plan(session, other)
        return Team(nurse, therapist, outsider, plan.id or 0, other_plan.id or 0)


@pytest.fixture
def produce(app: Any, db: Any) -> Callable[..., Awaitable[int]]:
    """``await produce(plan_id, n)``: n events committed and published by the unit of work, as any write's.

    ``announce=False``: committed on sessions without a publisher, as if the broker had lost the notice.
    """
    unannounced = make_sessionmaker(app.state.engine)

    async def _produce(plan_id: int, count: int = 1, *, announce: bool = True) -> int:
        async with db() if announce else unit_of_work(unannounced) as session:
            return await emit(session, plan_id, count)

    return _produce


async def bearer(app: Any, db: Any, user: User) -> tuple[dict[str, str], Actor]:
    """A bearer token for ``user`` (as ``POST /auth/token`` issues), and the actor it resolves to."""
    async with db() as session:
        issued = await auth_sessions.open_session(session, user, kind="bearer", settings=app.state.settings)
        actor = await auth_sessions.resolve(
            session, issued.secret, kind="bearer", settings=app.state.settings
        )
    assert actor is not None
    return {"Authorization": f"Bearer {issued.secret}"}, actor
