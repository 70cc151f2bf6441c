"""Each stream kind keeps its events for its own retention; the pruning job deletes the rest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from careteam.app import app_jobs
from careteam.db.types import utcnow
from careteam.events import log as events
from careteam.events import retention, streams
from careteam.events.tables import StreamEvent
from careteam.settings import Settings
from tests.factories import make_patient, make_plan


async def test_an_inbox_is_kept_shorter_than_a_board(settings: Settings) -> None:
    keep = retention.retention(settings)
    assert keep[streams.USER] < keep[streams.PLAN]
    assert retention.PRUNE_JOB in {job.name for job in app_jobs(settings)}


async def test_the_pruning_job_deletes_each_kinds_old_events_only(db: Any, settings: Settings) -> None:
    async with db() as session:
        plan_id = (await make_plan(session, await make_patient(session))).id or 0
        await events.record(session, streams.plan(plan_id), "test.ping", {}, actor=None)
        await events.record(session, streams.user(7), "inbox.test", {}, actor=None)
    prune = retention.pruner(
        settings.model_copy(update={"retention_user_days": 30, "retention_plan_days": 730})
    )
    # 31 days on: the inbox event is past its 30 days, the board's is well within its 730.
    async with db() as session:
        await prune(session, now=utcnow() + timedelta(days=31))
    async with db() as session:
        left = [
            (e.stream_kind, e.seq)
            for e in await session.exec(select(StreamEvent).order_by(col(StreamEvent.id)))
        ]
        assert left == [("plan", 1)]
        # The inbox's head stays: its next event goes on from seq 2, and a reader at 0 is told to resync.
        assert await events.last_seq(session, streams.user(7)) == 1
        assert await events.resync_reason(session, streams.user(7), 0, 1) == "log_pruned"
        assert await events.resync_reason(session, streams.user(7), 1, 1) is None
