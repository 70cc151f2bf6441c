"""A care team with a plan, and a psychology pool off the team: shared by the referral tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from careteam.core.vocab import Discipline
from careteam.events.tables import StreamEvent
from careteam.patients.codes import TeamRole
from tests.factories import make_patient, make_plan, make_user, of_plan


@dataclass
class World:
    plan_id: int
    patient_id: int
    other_plan_id: int
    ids: dict[str, int] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def id(self, who: str) -> int:
        return self.ids[who]


# Persona -> (discipline, on the team as): None = not on the patient's team.
PERSONAS: dict[str, tuple[Discipline, TeamRole | None]] = {
    "lead": (Discipline.ipm_lead, TeamRole.lead),
    "physician": (Discipline.physician, TeamRole.member),
    "nurse": (Discipline.nurse, TeamRole.member),
    "psy1": (Discipline.psychologist, None),
    "psy2": (Discipline.psychologist, None),
    "physio": (Discipline.physical_therapist, None),
    "outsider": (Discipline.ipm_lead, None),  # leads another patient's team
}


async def make_world(db: Any, *, pool_size: int = 2) -> World:
    """``lead``, ``physician`` and ``nurse`` on Ellen's team; psychologists ``psy1``.. ``psyN`` and a physio
    off it; ``outsider`` leads another team."""
    personas = dict(PERSONAS)
    for n in range(3, pool_size + 1):
        personas[f"psy{n}"] = (Discipline.psychologist, None)
    async with db() as s:
        users = {}
        for name, (discipline, _) in personas.items():
            users[name] = await make_user(s, f"{name}-{id(personas)}", discipline=discipline)
        members = [(users[n], role) for n, (_, role) in personas.items() if role is not None]
        patient = await make_patient(s, members=members, name="Ellen Marsh")
        plan = await make_plan(s, patient)
        other = await make_patient(s, members=[(users["outsider"], TeamRole.lead)])
        other_plan = await make_plan(s, other)
        return World(
            plan_id=plan.id or 0,
            patient_id=patient.id or 0,
            other_plan_id=other_plan.id or 0,
            ids={n: u.id or 0 for n, u in users.items()},
            names={n: u.username for n, u in users.items()},
        )


async def plan_events(db: Any, plan_id: int) -> list[StreamEvent]:
    async with db() as s:
        return list(await s.exec(select(StreamEvent).where(*of_plan(plan_id)).order_by(StreamEvent.seq)))


async def count_events(db: Any, plan_id: int) -> int:
    async with db() as s:
        return int(
            (await s.exec(select(func.count()).select_from(StreamEvent).where(*of_plan(plan_id)))).one()
        )
