"""The sweep under the broker: a notice that never arrives still reaches every viewer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from careteam.realtime.hub import Hub
from careteam.settings import Settings
from tests.realtime.conftest import Open, Team, bearer


class Sweeps:
    """The hub's sweep runs, counted: a test waits for the runs it needs instead of for time to pass."""

    def __init__(self) -> None:
        self.done = 0  # runs completed
        self.caught_up: list[tuple[int, int]] = []  # (plan, seq) a completed run moved a plan's cursor to
        self.ran = asyncio.Condition()

    async def after(self, runs: int, within: float = 30.0) -> None:
        """Wait until ``runs`` more sweeps have completed (a generous deadline: a failure, not a timing)."""
        async with asyncio.timeout(within), self.ran:
            target = self.done + runs
            await self.ran.wait_for(lambda: self.done >= target)


@pytest.fixture
def sweeps(monkeypatch: pytest.MonkeyPatch) -> Sweeps:
    record = Sweeps()
    sweep = Hub.sweep

    async def counted(hub: Hub) -> None:
        before = {stream: watched.cursor for stream, watched in hub._streams.items()}
        try:
            await sweep(hub)
        finally:
            for stream, watched in hub._streams.items():
                if watched.cursor > before.get(stream, watched.cursor):
                    record.caught_up.append((stream.id, watched.cursor))
            async with record.ran:
                record.done += 1
                record.ran.notify_all()

    monkeypatch.setattr(Hub, "sweep", counted)  # before the app starts its hub: the fixture below asks
    return record


@pytest.fixture
def settings(settings: Settings, sweeps: Sweeps) -> Settings:
    return settings.model_copy(update={"ws_sweep_seconds": 0.3})


async def test_a_lost_notice_is_caught_up_by_the_sweep(
    app: Any, db: Any, open_viewer: Open, team: Team, produce: Any, sweeps: Sweeps
) -> None:
    headers, _ = await bearer(app, db, team.nurse)
    viewer = await open_viewer(headers)
    await viewer.send({"type": "subscribe", "plan_id": team.plan_id, "after": 0})
    assert (await viewer.recv())["type"] == "subscribed"
    last = await produce(team.plan_id, 3, announce=False)  # committed, but the broker never says so
    frames = await viewer.events(3, within=30)
    assert [f["seq"] for f in frames] == [1, 2, 3] and last == 3
    # Nothing but a sweep run could have read them: the broker was never told.
    assert sweeps.caught_up == [(team.plan_id, 3)]


async def test_the_sweep_sends_nothing_twice(
    app: Any, db: Any, open_viewer: Open, team: Team, produce: Any, sweeps: Sweeps
) -> None:
    headers, _ = await bearer(app, db, team.nurse)
    viewer = await open_viewer(headers)
    await viewer.send({"type": "subscribe", "plan_id": team.plan_id, "after": 0})
    assert (await viewer.recv())["type"] == "subscribed"
    await produce(team.plan_id, 2)
    assert [f["seq"] for f in await viewer.events(2)] == [1, 2]
    await sweeps.after(3)  # several sweeps have run over the plan since: whatever they queued is queued
    await viewer.quiet(app)
