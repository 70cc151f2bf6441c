"""A clinician's own stream ``user:<id>`` end to end: appended and live, replayed after a seq, resync once
pruned, refused to anyone else, and dropped when her access ends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from careteam.accounts.feed import FEED as USER_FEED
from careteam.accounts.tables import User
from careteam.audit.tables import AuditEntry
from careteam.db.types import utcnow
from careteam.events import log as events
from careteam.events import streams
from tests.realtime.conftest import Open, Team, Viewer


async def _append(db: Any, user_id: int, count: int) -> int:
    """``count`` inbox events, committed (and published on commit); the last seq."""
    seq = 0
    async with db() as session:
        for n in range(count):
            event = await events.record(session, streams.user(user_id), "inbox.test", {"n": n}, actor=None)
            seq = event.seq
    return seq


async def _inbox(viewer: Viewer, user_id: int, after: int | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "subscribe", "stream": f"user:{user_id}"}
    if after is not None:
        frame["after"] = after
    await viewer.send(frame)
    return await viewer.recv()


async def test_her_inbox_is_live_and_replays_after_a_seq(
    app: Any, db: Any, open_viewer: Open, team: Team, login: Any
) -> None:
    nurse_id = team.nurse.id or 0
    viewer = await open_viewer(await login(team.nurse.username))
    assert await _inbox(viewer, nurse_id) == {
        "type": "subscribed",
        "stream": f"user:{nurse_id}",
        "last_seq": 0,
    }
    await _append(db, nurse_id, 2)
    live = await viewer.events(2)
    assert [(f["stream"], f["seq"], f["data"]) for f in live] == [
        (f"user:{nurse_id}", 1, {"n": 0}),
        (f"user:{nurse_id}", 2, {"n": 1}),
    ]
    assert all("plan_id" not in f for f in live)
    # Another tab that saw seq 1 gets exactly what it missed, then live events.
    other = await open_viewer(await login(team.nurse.username))
    assert (await _inbox(other, nurse_id, after=1))["last_seq"] == 2
    assert [f["seq"] for f in await other.events(1)] == [2]
    await _append(db, nurse_id, 1)
    assert [f["seq"] for f in await other.events(1)] == [3]
    assert [f["seq"] for f in await viewer.events(1)] == [3]
    await viewer.quiet(app)
    async with db() as session:
        reads = (
            await session.exec(
                select(AuditEntry).where(AuditEntry.resource_type == "inbox", AuditEntry.user_id == nurse_id)
            )
        ).all()
    assert len(reads) == 2  # each subscription is an audited read


async def test_a_pruned_inbox_answers_resync(
    app: Any, db: Any, open_viewer: Open, team: Team, login: Any
) -> None:
    nurse_id = team.nurse.id or 0
    await _append(db, nurse_id, 3)
    async with db() as session:
        gone = await events.prune(session, streams.USER, before=utcnow() + timedelta(seconds=1))
    assert gone == 3
    viewer = await open_viewer(await login(team.nurse.username))
    assert await _inbox(viewer, nurse_id, after=1) == {
        "type": "resync",
        "stream": f"user:{nurse_id}",
        "reason": "log_pruned",
    }
    # Up to date: nothing was missed, so nothing to resync; the seq goes on after the pruned range.
    assert (await _inbox(viewer, nurse_id, after=3))["type"] == "subscribed"
    assert await _append(db, nurse_id, 1) == 4
    assert [f["seq"] for f in await viewer.events(1)] == [4]


async def test_anothers_inbox_is_not_found(
    app: Any, db: Any, open_viewer: Open, team: Team, login: Any
) -> None:
    therapist = await open_viewer(await login(team.therapist.username))
    refused = await _inbox(therapist, team.nurse.id or 0)
    assert refused["type"] == "error" and refused["code"] == "not_found"
    assert refused["stream"] == f"user:{team.nurse.id}"
    await _append(db, team.nurse.id or 0, 1)
    await therapist.quiet(app)


async def test_a_deactivated_clinician_loses_her_inbox(
    app: Any, db: Any, open_viewer: Open, team: Team, login: Any
) -> None:
    nurse_id = team.nurse.id or 0
    async with db() as session:
        therapist_id = team.therapist.id or 0
        readers = await (await session.connection()).execute(USER_FEED.readers([nurse_id, therapist_id]))
        assert {tuple(row) for row in readers} == {(nurse_id, nurse_id), (therapist_id, therapist_id)}
    viewer = await open_viewer(await login(team.nurse.username))
    assert (await _inbox(viewer, nurse_id))["type"] == "subscribed"
    async with db() as session:
        user = (await session.exec(select(User).where(col(User.id) == nurse_id))).one()
        user.active = False
        session.add(user)
    async with db() as session:
        readers = await (await session.connection()).execute(USER_FEED.readers([nurse_id]))
        assert list(readers) == []
    # The periodic re-check (every 0.5 s here) ends it, without the client sending anything.
    await viewer.ws.wait_closed()
    assert viewer.ws.close_code == 4401
