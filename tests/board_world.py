"""A care team with a plan, shared by the board tests (API, page, browser)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from careteam.core.vocab import Discipline
from careteam.patients.codes import TeamRole
from tests.factories import make_patient, make_plan, make_user


@dataclass
class Board:
    """An IPM lead, a nurse and a physio on one patient's team with one plan; an outsider on another team."""

    plan_id: int
    patient_id: int
    lead: str
    nurse: str
    physio: str
    outsider: str
    nurse_id: int
    outsider_id: int
    other_plan_id: int
    lead_name: str
    nurse_name: str


async def make_board(
    db: Any, *, patient_name: str | None = None, plan_title: str = "Chronic low back pain plan"
) -> Board:
    async with db() as s:
        lead = await make_user(s, discipline=Discipline.ipm_lead)
        nurse = await make_user(s, discipline=Discipline.nurse)
        physio = await make_user(s, discipline=Discipline.physical_therapist)
        outsider = await make_user(s, discipline=Discipline.nurse)
        patient = await make_patient(
            s,
            members=[(lead, TeamRole.lead), (nurse, TeamRole.member), (physio, TeamRole.member)],
            name=patient_name,
        )
        plan = await make_plan(s, patient, title=plan_title)
        other_patient = await make_patient(s, members=[(outsider, TeamRole.member)])
        other_plan = await make_plan(s, other_patient)
        return Board(
            plan.id or 0,
            patient.id or 0,
            lead.username,
            nurse.username,
            physio.username,
            outsider.username,
            nurse.id or 0,
            outsider.id or 0,
            other_plan.id or 0,
            lead.display_name,
            nurse.display_name,
        )
