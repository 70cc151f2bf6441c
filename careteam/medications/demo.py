"""The demo clinic's medications (DOMAIN.md's opioid and anticoagulation stories): Ellen Marsh on
oxycodone 10 mg every 6 hours (60 MME/day, tapering towards under 50), Robert Chen on a fentanyl 25 mcg/h
patch and oxycodone 10 mg every 6 hours (120 MME/day: the pharmacist's taper review) with apixaban held 3
days before the SCS trial. Recorded by each team's physician, so each opioid and the hold post their urgent
message; those were acknowledged long ago (the demo's one open urgent message is the thread's own), so each
card says who acknowledged. Created once; a clinic with any medication gets none."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.core.actor import actor_of
from careteam.db.engine import unit_of_work
from careteam.db.types import utcnow
from careteam.medications import service as medications
from careteam.medications.codes import Drug, Frequency
from careteam.medications.schemas import MedicationCreate
from careteam.medications.tables import Medication
from careteam.messaging import service as messaging
from careteam.patients import service as patients
from careteam.plans import service as plans

# Patient -> (drug, dose, frequency, weeks since it started, hold days, hold instruction)
MEDICATIONS: dict[str, list[tuple[Drug, float, Frequency, int, int | None, str | None]]] = {
    "Ellen Marsh": [
        (Drug.oxycodone, 10, Frequency.q6h, 60, None, None),
        (Drug.duloxetine, 60, Frequency.daily, 20, None, None),
    ],
    "Robert Chen": [
        (Drug.fentanyl_transdermal, 25, Frequency.continuous, 40, None, None),
        (Drug.oxycodone, 10, Frequency.q6h, 40, None, None),
        (Drug.gabapentin, 300, Frequency.tid, 30, None, None),
        (
            Drug.apixaban,
            5,
            Frequency.bid,
            80,
            3,
            "Hold apixaban 3 days before the SCS trial; bridging not needed.",
        ),
    ],
}


async def seed(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Put the demo's medications on their plans unless the clinic has one; how many it added."""
    async with unit_of_work(sessions) as session:
        if (await session.exec(select(col(Medication.id)).limit(1))).first() is not None:
            return 0
        users = accounts.directory()
        ids = {name: int(uid) for uid, name in await session.exec(select(users.c.id, users.c.username))}
        lead_user = await accounts.active_user(session, ids["lead"])
        assert lead_user is not None, "the demo's accounts are active"
        lead = actor_of(lead_user)
        plan_rows, _ = await plans.list_plans(session, actor=lead, limit=100)
        names = await patients.patient_cards(session, [p.patient_id for p in plan_rows])
        plan_of = {names[p.patient_id][0]: p for p in sorted(plan_rows, key=lambda p: -(p.id or 0))}
        today = utcnow().date()
        added = 0
        for patient, rows in MEDICATIONS.items():
            plan = plan_of.get(patient)
            if plan is None:
                continue
            author = lead
            physician = await accounts.active_user(session, ids["physician"])
            if physician is not None and await medications.on_care_team(
                session, plan.id or 0, actor=actor_of(physician)
            ):
                author = actor_of(physician)
            for drug, dose, frequency, weeks, hold_days, hold_note in rows:
                body = MedicationCreate(
                    drug=drug,
                    dose=dose,
                    frequency=frequency,
                    start_date=today - timedelta(weeks=weeks),
                    hold_days=hold_days,
                    hold_note=hold_note,
                )
                row = await medications.add_medication(session, plan.id or 0, body, actor=author, today=today)
                ack = (await medications.acks_of(session, [row])).get(row.id or 0)
                if ack is None:
                    added += 1
                    continue
                for waiting in ack.waiting_for:
                    user = await accounts.active_user(session, waiting.user_id)
                    if user is not None:
                        await messaging.acknowledge(session, ack.message_id, actor=actor_of(user))
                added += 1
        return added
