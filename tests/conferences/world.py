"""A clinic for conference tests: a lead who facilitates, two patients with plans on her care teams, a
physician on the first team only, a psychologist on neither (invited), a trainee observer, an outsider."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from careteam.core.vocab import Discipline
from careteam.patients.codes import TeamRole
from tests.factories import make_patient, make_plan, make_user


@dataclass
class Clinic:
    lead: int
    doc: int
    psy: int
    trainee: int
    outsider: int
    plan1: int
    plan2: int
    patient1: int
    patient2: int
    usernames: dict[str, str]


async def make_clinic(db: Any) -> Clinic:
    async with db() as s:
        lead = await make_user(s, discipline=Discipline.ipm_lead)
        doc = await make_user(s, discipline=Discipline.physician)
        psy = await make_user(s, discipline=Discipline.psychologist)
        trainee = await make_user(s, discipline=Discipline.nurse)
        outsider = await make_user(s, discipline=Discipline.ipm_lead)
        p1 = await make_patient(
            s, members=[(lead, TeamRole.lead), (doc, TeamRole.member)], name="Ellen Marsh"
        )
        p2 = await make_patient(s, members=[(lead, TeamRole.lead)], name="Omar Haddad")
        plan1 = await make_plan(s, p1, title="Lumbar facet pain")
        plan2 = await make_plan(s, p2, title="CRPS upper limb")
        return Clinic(
            lead=lead.id or 0,
            doc=doc.id or 0,
            psy=psy.id or 0,
            trainee=trainee.id or 0,
            outsider=outsider.id or 0,
            plan1=plan1.id or 0,
            plan2=plan2.id or 0,
            patient1=p1.id or 0,
            patient2=p2.id or 0,
            usernames={
                "lead": lead.username,
                "doc": doc.username,
                "psy": psy.username,
                "trainee": trainee.username,
                "outsider": outsider.username,
            },
        )


def schedule_body(c: Clinic, *, starts_at: datetime | None = None, **fields: Any) -> dict[str, Any]:
    start = starts_at or datetime.now(UTC) + timedelta(minutes=5)
    return {
        "title": "Spine MDT",
        "team": "Spine MDT",
        "starts_at": start.isoformat(),
        "attendee_ids": [c.doc, c.psy],
        "observer_ids": [c.trainee],
        "items": [
            {"plan_id": c.plan1, "reason": "Decide on RFA after two positive MBBs", "presenter_id": c.doc},
            {"plan_id": c.plan2, "reason": "Declined psychology referral"},
        ],
        **fields,
    }
