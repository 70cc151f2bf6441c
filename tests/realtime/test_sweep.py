"""The sweep under the broker: a notice that never arrives still reaches every viewer within seconds."""

from __future__ import annotations

import time
from typing import Any

import pytest

from careteam.settings import Settings
from tests.realtime.conftest import Open, Team, bearer


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"ws_sweep_seconds": 0.3})


async def test_a_lost_notice_is_caught_up_by_the_sweep(
    app: Any, db: Any, open_viewer: Open, team: Team, produce: Any
) -> None:
    headers, _ = await bearer(app, db, team.nurse)
    viewer = await open_viewer(headers)
    await viewer.send({"type": "subscribe", "plan_id": team.plan_id, "after": 0})
    assert (await viewer.recv())["type"] == "subscribed"
    started = time.monotonic()
    last = await produce(team.plan_id, 3, announce=False)  # committed, but the broker never says so
    frames = await viewer.events(3, within=5)
    assert [f["seq"] for f in frames] == [1, 2, 3] and last == 3
    assert time.monotonic() - started < 3


async def test_the_sweep_sends_nothing_twice(
    app: Any, db: Any, open_viewer: Open, team: Team, produce: Any
) -> None:
    headers, _ = await bearer(app, db, team.nurse)
    viewer = await open_viewer(headers)
    await viewer.send({"type": "subscribe", "plan_id": team.plan_id, "after": 0})
    assert (await viewer.recv())["type"] == "subscribed"
    await produce(team.plan_id, 2)
    assert [f["seq"] for f in await viewer.events(2)] == [1, 2]
    await viewer.nothing(1.0)  # several sweeps pass: nothing is sent twice
