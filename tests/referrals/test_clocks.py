"""Referrals' clocks: the real ``referrals.escalate_overdue`` job on a manual clock, and the time kept in
each phase.

The app runs a registry holding only the escalation job (every minute of clock time, first due one minute
after the start) and polls once per second of clock time; ``tick`` advances the clock and waits for the one
poll that follows, so every assertion sees the job's committed result, with no sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from careteam.accounts.tables import User
from careteam.app import create_app
from careteam.core.actor import actor_of
from careteam.core.vocab import Discipline
from careteam.events.tables import StreamEvent
from careteam.jobs.clock import ManualClock
from careteam.jobs.registry import JOBS, Registry
from careteam.jobs.tables import ScheduledJob
from careteam.notifications.codes import NotificationKind
from careteam.notifications.tables import Notification
from careteam.referrals import jobs as referral_jobs
from careteam.referrals import service as referrals
from careteam.referrals.codes import ReferralEvent, ReferralStatus
from careteam.referrals.schemas import (
    Complete,
    Decline,
    ReferralCreate,
    ReferralPublic,
    ReferralUpdate,
    Revoke,
)
from careteam.referrals.tables import Referral
from careteam.settings import Settings
from tests.factories import of_plan
from tests.jobs.conftest import POLL, T0, polled, tick
from tests.referrals.world import World, make_world

JOB = "referrals.escalate_overdue"
STAT = timedelta(hours=8)  # the default respond-by of a "stat" referral


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"jobs_poll_seconds": POLL.total_seconds(), "jobs_enabled": True})


@pytest.fixture
async def app(settings: Settings, clock: ManualClock) -> AsyncIterator[Any]:
    jobs = Registry()
    real = JOBS[JOB]
    assert real.run is referral_jobs.escalate_overdue
    jobs.add(JOB, real.run, schedule=real.schedule)
    application = create_app(settings, jobs=jobs, clock=clock)
    async with application.router.lifespan_context(application):
        await polled(application, 1)  # the first poll declares the job: due one minute after T0
        yield application


# --- Helpers -------------------------------------------------------------------------------------


async def refer(client: Any, h: dict[str, str], w: World, **body: Any) -> dict[str, Any]:
    payload = {
        "plan_id": w.plan_id,
        "discipline": "psychologist",
        "reason": "CBT for pain catastrophising (PCS 34)",
        "priority": "stat",
        **body,
    }
    r = await client.post("/api/v1/referrals", json=payload, headers=h)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def overdue_notifications(db: Any, referral_id: int | None = None) -> list[tuple[int, int | None]]:
    """(recipient, referral) of every ``referral.overdue`` notification, sorted."""
    async with db() as s:
        query = select(Notification.user_id, Notification.referral_id).where(
            Notification.kind == NotificationKind.referral_overdue
        )
        if referral_id is not None:
            query = query.where(Notification.referral_id == referral_id)
        return sorted((int(u), r) for u, r in await s.exec(query))


async def overdue_events(db: Any, plan_id: int) -> list[int]:
    """The referral id carried by each ``referral.overdue`` event on the plan's stream, in order."""
    async with db() as s:
        rows = await s.exec(
            select(StreamEvent)
            .where(*of_plan(plan_id), StreamEvent.kind == ReferralEvent.overdue)
            .order_by(col(StreamEvent.seq))
        )
        return [int(e.data["id"]) for e in rows]


async def last_run(db: Any) -> datetime | None:
    async with db() as s:
        return (await s.exec(select(ScheduledJob.last_run_at).where(ScheduledJob.name == JOB))).one()


async def escalated_at(db: Any, referral_id: int) -> datetime | None:
    async with db() as s:
        return (await s.exec(select(Referral.escalated_at).where(Referral.id == referral_id))).one()


async def shown(client: Any, h: dict[str, str], referral_id: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/referrals/{referral_id}", headers=h)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def run_job_at(app: Any, db: Any, clock: ManualClock, by: timedelta) -> datetime:
    """Advance the clock by ``by`` and wait for the poll: the job is due (every minute), so it ran then."""
    assert by >= timedelta(minutes=1)
    await tick(app, clock, by)
    assert await last_run(db) == clock.now()  # it did run: what it left (or not) is its whole result
    return clock.now()


# --- Escalation ----------------------------------------------------------------------------------


async def test_overdue_escalates_once_to_requester_and_lead(
    app: Any, client: Any, db: Any, login: Any, clock: ManualClock
) -> None:
    w = await make_world(db)
    physician, lead = await login(w.names["physician"]), await login(w.names["lead"])
    referral = await refer(client, physician, w)
    assert datetime.fromisoformat(referral["respond_by"]) == T0 + STAT

    # Runs before the respond-by (the last one a minute before it) escalate nothing.
    await run_job_at(app, db, clock, timedelta(minutes=1))
    await run_job_at(app, db, clock, STAT - timedelta(minutes=2))
    assert clock.now() == T0 + STAT - timedelta(minutes=1)
    assert await overdue_notifications(db) == []
    assert await overdue_events(db, w.plan_id) == []
    assert (await shown(client, lead, referral["id"]))["overdue"] is False

    await run_job_at(app, db, clock, timedelta(minutes=2))
    rid = referral["id"]
    assert await overdue_notifications(db) == sorted([(w.id("physician"), rid), (w.id("lead"), rid)])
    assert await overdue_events(db, w.plan_id) == [rid]
    assert await escalated_at(db, rid) == clock.now()
    assert (await shown(client, lead, rid))["overdue"] is True
    assert (await shown(client, physician, rid))["overdue"] is True
    listed = (await client.get("/api/v1/referrals?overdue=true", headers=lead)).json()
    assert [i["id"] for i in listed["items"]] == [rid]

    # Later runs (the clock well past the deadline) add nothing.
    await run_job_at(app, db, clock, timedelta(hours=1))
    await run_job_at(app, db, clock, timedelta(days=2))
    assert len(await overdue_notifications(db)) == 2
    assert await overdue_events(db, w.plan_id) == [rid]


async def test_a_lead_who_referred_is_told_once(
    app: Any, client: Any, db: Any, login: Any, clock: ManualClock
) -> None:
    w = await make_world(db)
    referral = await refer(client, await login(w.names["lead"]), w)
    await run_job_at(app, db, clock, STAT + timedelta(minutes=1))
    await run_job_at(app, db, clock, timedelta(hours=3))
    assert await overdue_notifications(db) == [(w.id("lead"), referral["id"])]
    assert await overdue_events(db, w.plan_id) == [referral["id"]]


async def test_a_later_respond_by_clears_the_escalation_and_a_new_deadline_escalates_again(
    app: Any, client: Any, db: Any, login: Any, clock: ManualClock
) -> None:
    w = await make_world(db)
    physician, lead = await login(w.names["physician"]), await login(w.names["lead"])
    referral = await refer(client, physician, w)
    rid = referral["id"]
    await run_job_at(app, db, clock, STAT + timedelta(minutes=1))
    assert len(await overdue_notifications(db, rid)) == 2

    later = clock.now() + timedelta(hours=4)
    current = await shown(client, lead, rid)
    r = await client.patch(
        f"/api/v1/referrals/{rid}",
        json={"respond_by": later.isoformat()},
        headers={**lead, "If-Match": f'W/"{current["version"]}"'},
    )
    assert r.status_code == 200, r.text
    assert r.json()["overdue"] is False
    assert await escalated_at(db, rid) is None
    assert (await shown(client, physician, rid))["overdue"] is False

    # Before the new deadline: nothing new.
    await run_job_at(app, db, clock, timedelta(hours=4) - timedelta(minutes=1))
    assert len(await overdue_notifications(db, rid)) == 2
    assert await overdue_events(db, w.plan_id) == [rid]

    # Past it: escalated once more, once per recipient, and then never again.
    await run_job_at(app, db, clock, timedelta(minutes=2))
    assert await overdue_notifications(db, rid) == sorted(2 * [(w.id("physician"), rid), (w.id("lead"), rid)])
    assert await overdue_events(db, w.plan_id) == [rid, rid]
    assert (await shown(client, lead, rid))["overdue"] is True
    await run_job_at(app, db, clock, timedelta(hours=6))
    assert len(await overdue_notifications(db, rid)) == 4
    assert await overdue_events(db, w.plan_id) == [rid, rid]


async def test_accepted_on_hold_declined_and_draft_referrals_are_never_escalated(
    app: Any, client: Any, db: Any, login: Any, clock: ManualClock
) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    accepted = await refer(client, lead, w)
    r = await client.post(f"/api/v1/referrals/{accepted['id']}/accept", headers=await login(w.names["psy1"]))
    assert r.status_code == 200, r.text
    declined = await refer(client, lead, w)
    r = await client.post(
        f"/api/v1/referrals/{declined['id']}/decline",
        json={"reason": "Full caseload this month"},
        headers=await login(w.names["psy2"]),
    )
    assert r.status_code == 200, r.text
    on_hold = await refer(client, lead, w)
    r = await client.patch(
        f"/api/v1/referrals/{on_hold['id']}",
        json={"status": "on-hold"},
        headers={**lead, "If-Match": f'W/"{on_hold["version"]}"'},
    )
    assert r.status_code == 200 and r.json()["status"] == "on-hold", r.text
    draft = await refer(client, lead, w, status="draft")
    control = await refer(client, lead, w)  # an unanswered one beside them: the job did escalate

    await run_job_at(app, db, clock, STAT + timedelta(minutes=1))
    await run_job_at(app, db, clock, timedelta(days=30))
    assert await overdue_notifications(db) == [(w.id("lead"), control["id"])]
    assert await overdue_events(db, w.plan_id) == [control["id"]]
    for quiet in (accepted, declined, on_hold, draft):
        assert (await shown(client, lead, quiet["id"]))["overdue"] is False
        assert await escalated_at(db, quiet["id"]) is None


async def test_each_overdue_referral_is_escalated_on_its_own_plan_only(
    app: Any, client: Any, db: Any, login: Any, clock: ManualClock
) -> None:
    """Two overdue referrals on one plan: one event each, and the notifications name each referral."""
    w = await make_world(db)
    physician = await login(w.names["physician"])
    first = await refer(client, physician, w)
    second = await refer(client, physician, w, discipline="physical_therapist", reason="Core stabilisation")
    await run_job_at(app, db, clock, STAT + timedelta(minutes=1))
    await run_job_at(app, db, clock, timedelta(minutes=5))
    for rid in (first["id"], second["id"]):
        assert await overdue_notifications(db, rid) == sorted([(w.id("physician"), rid), (w.id("lead"), rid)])
    assert sorted(await overdue_events(db, w.plan_id)) == sorted([first["id"], second["id"]])
    async with db() as s:
        other = select(func.count()).select_from(StreamEvent).where(*of_plan(w.other_plan_id))
        assert (await s.exec(other)).one() == 0


# --- Time kept in each phase (explicit ``now`` passed to the service) ----------------------------


class Team:
    """Call the referral service as the world's personas, each call its own unit of work."""

    def __init__(self, db: Any, w: World) -> None:
        self.db, self.w = db, w

    async def as_(self, who: str, call: Any, *args: Any, **kwargs: Any) -> ReferralPublic:
        async with self.db() as s:
            user = await s.get(User, self.w.id(who))
            assert user is not None
            result: ReferralPublic = await call(s, *args, actor=actor_of(user), **kwargs)
            return result

    async def refer(self, now: datetime, **body: Any) -> ReferralPublic:
        create = ReferralCreate(
            plan_id=self.w.plan_id,
            discipline=body.pop("discipline", Discipline.psychologist),
            reason="Pre-SCS psychological evaluation",
            **body,
        )
        return await self.as_("lead", referrals.create_referral, create, now=now)

    async def patch(self, r: ReferralPublic, now: datetime, **changes: Any) -> ReferralPublic:
        return await self.as_(
            "lead",
            referrals.update_referral,
            r.id,
            ReferralUpdate(**changes),
            expected_version=r.version,
            now=now,
        )

    async def stored(self, referral_id: int) -> Referral:
        async with self.db() as s:
            row = await s.get(Referral, referral_id)
            assert row is not None
            return row


H = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


async def test_waiting_two_hours_then_claimed_one_hour_then_accepted(db: Any) -> None:
    team = Team(db, await make_world(db))
    r = await team.refer(T0)
    assert (r.phase, r.phase_since, r.phase_seconds) == ("waiting", T0, {})
    claimed = await team.as_("psy1", referrals.claim_referral, r.id, now=T0 + 2 * H)
    assert (claimed.phase, claimed.phase_since) == ("claimed", T0 + 2 * H)
    assert claimed.phase_seconds == {"waiting": 7200}
    accepted = await team.as_("psy1", referrals.accept_referral, r.id, now=T0 + 3 * H)
    assert accepted.phase == "accepted" and accepted.phase_since == T0 + 3 * H
    assert accepted.phase_seconds == {"waiting": 7200, "claimed": 3600}
    row = await team.stored(r.id)  # as committed, not only as answered
    assert row.phase_seconds == {"waiting": 7200, "claimed": 3600} and row.phase_since == T0 + 3 * H

    # A change that keeps the phase (the reason, here) leaves the clocks alone.
    same = await team.patch(accepted, T0 + 4 * H, reason="Pre-SCS evaluation, with partner")
    assert (same.phase_since, same.phase_seconds) == (T0 + 3 * H, {"waiting": 7200, "claimed": 3600})
    done = await team.as_(
        "psy1", referrals.complete_referral, r.id, Complete(outcome="Cleared for trial"), now=T0 + 10 * H
    )
    assert done.phase == "completed"
    assert done.phase_seconds == {"waiting": 7200, "claimed": 3600, "accepted": 7 * 3600}


async def test_declined_and_rerouted_keeps_accumulating(db: Any) -> None:
    team = Team(db, await make_world(db))
    r = await team.refer(T0)
    await team.as_("psy1", referrals.claim_referral, r.id, now=T0 + H)
    declined = await team.as_(
        "psy1", referrals.decline_referral, r.id, Decline(reason="Not my specialty"), now=T0 + 90 * MINUTE
    )
    assert declined.phase == "declined"
    assert declined.phase_seconds == {"waiting": 3600, "claimed": 1800}
    # Back with the lead for two hours, then sent to the physios' pool: waiting again, its time added.
    rerouted = await team.patch(
        declined,
        T0 + 210 * MINUTE,
        discipline=Discipline.physical_therapist,
        reason_code="core-stabilisation",
    )
    assert (rerouted.phase, rerouted.phase_since) == ("waiting", T0 + 210 * MINUTE)
    assert rerouted.phase_seconds == {"waiting": 3600, "claimed": 1800, "declined": 7200}
    # Held for an hour and sent again: on-hold time is kept apart, waiting goes on from where it was.
    held = await team.patch(rerouted, T0 + 270 * MINUTE, status=ReferralStatus.on_hold)
    assert held.phase_seconds == {"waiting": 3600 + 3600, "claimed": 1800, "declined": 7200}
    resumed = await team.patch(held, T0 + 330 * MINUTE, status=ReferralStatus.active)
    assert resumed.phase == "waiting"
    assert resumed.phase_seconds == {"waiting": 7200, "claimed": 1800, "declined": 7200, "on-hold": 3600}
    accepted = await team.as_("physio", referrals.accept_referral, r.id, now=T0 + 360 * MINUTE)
    kept = {"waiting": 7200 + 1800, "claimed": 1800, "declined": 7200, "on-hold": 3600}
    assert accepted.phase_seconds == kept
    assert (await team.stored(r.id)).phase_seconds == accepted.phase_seconds


async def test_a_named_clinician_starts_claimed_and_a_revoke_closes_the_clock(db: Any) -> None:
    team = Team(db, await make_world(db))
    w = team.w
    r = await team.refer(T0, assignee_id=w.id("psy2"))
    assert (r.phase, r.phase_seconds) == ("claimed", {})
    revoke = Revoke(reason="Patient moved")
    revoked = await team.as_("lead", referrals.revoke_referral, r.id, revoke, now=T0 + 5 * H)
    assert (revoked.phase, revoked.phase_since) == ("revoked", T0 + 5 * H)
    assert revoked.phase_seconds == {"claimed": 18000}
