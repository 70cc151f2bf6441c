"""A clinic for My work's tests: a nurse on several patients' care teams (as the demo's nurse is), colleagues,
a patient she is not on, and tasks in every status, lane, assignee and due date, straight into the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from careteam.core.vocab import Discipline
from careteam.patients.codes import TeamRole
from careteam.plans.codes import TaskPriority, TaskStatus
from careteam.plans.tables import Task
from tests.factories import make_patient, make_plan, make_user

# A fixed "today", so that the groups do not depend on the day the tests run.
TODAY = date(2026, 3, 10)
DUE_OFFSETS: tuple[int | None, ...] = (-40, -1, 0, 1, 7, 8, 30, None)
STATUSES = tuple(TaskStatus)
PRIORITIES = tuple(TaskPriority)
LANES = (Discipline.nurse, Discipline.physical_therapist, Discipline.physician)


@dataclass
class Clinic:
    nurse: str
    nurse_id: int
    physio: str
    physio_id: int
    lead: str
    lead_id: int
    patient_ids: list[int]  # hers
    plan_ids: list[int]  # on her patients
    other_patient_id: int  # not on her teams
    other_plan_id: int


def _tasks(plan_id: int, n: int, assignees: list[int | None], *, seed: int) -> list[Task]:
    """``n`` tasks cycling through statuses, lanes, assignees, due dates and priorities (independent cycles,
    so every combination turns up), with a few titles that would break naive HTML."""
    out = []
    for k in range(seed, seed + n):
        offset = DUE_OFFSETS[k % len(DUE_OFFSETS)]
        out.append(
            Task(
                plan_id=plan_id,
                title=f"Task {k} <b>check</b>" if k % 11 == 0 else f"Task {k}",
                discipline=LANES[(k // len(STATUSES)) % len(LANES)].value,
                assignee_id=assignees[k % len(assignees)],
                status=STATUSES[k % len(STATUSES)].value,
                priority=PRIORITIES[(k // len(DUE_OFFSETS)) % len(PRIORITIES)].value,
                due_date=None if offset is None else TODAY + timedelta(days=offset),
                position=1024.0 * (k + 1),
            )
        )
    return out


async def make_clinic(db: Any, *, patients: int = 4, tasks_per_plan: int = 130) -> Clinic:
    async with db() as s:
        nurse = await make_user(s, discipline=Discipline.nurse)
        physio = await make_user(s, discipline=Discipline.physical_therapist)
        lead = await make_user(s, discipline=Discipline.ipm_lead)
        other_nurse = await make_user(s, discipline=Discipline.nurse)
        team = [(lead, TeamRole.lead), (nurse, TeamRole.member), (physio, TeamRole.member)]
        assignees: list[int | None] = [nurse.id, physio.id, None, lead.id, None]
        patient_ids, plan_ids = [], []
        for i in range(patients):
            patient = await make_patient(s, members=team, name=f"Patient {i:03d} of the nurse")
            patient_ids.append(patient.id or 0)
            # The first patient has two boards.
            for j in range(2 if i == 0 else 1):
                plan = await make_plan(s, patient, title=f"Plan {j}")
                plan_ids.append(plan.id or 0)
                s.add_all(_tasks(plan.id or 0, tasks_per_plan, assignees, seed=31 * i + 7 * j))
        # Another nurse's patient: the tasks of her lane, even one assigned to our nurse's id, never show.
        other = await make_patient(
            s, members=[(other_nurse, TeamRole.member), (physio, TeamRole.member)], name="Not her patient"
        )
        other_plan = await make_plan(s, other)
        s.add_all(_tasks(other_plan.id or 0, tasks_per_plan, [nurse.id, None, other_nurse.id], seed=5))
    return Clinic(
        nurse=nurse.username,
        nurse_id=nurse.id or 0,
        physio=physio.username,
        physio_id=physio.id or 0,
        lead=lead.username,
        lead_id=lead.id or 0,
        patient_ids=patient_ids,
        plan_ids=plan_ids,
        other_patient_id=other.id or 0,
        other_plan_id=other_plan.id or 0,
    )
