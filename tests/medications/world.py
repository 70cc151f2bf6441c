"""A care team for the medication tests: lead, physician, nurse, psychologist (reads only), and optionally
a pharmacist; an outsider leads another patient's team."""

from __future__ import annotations

from typing import Any

from careteam.core.vocab import Discipline
from careteam.patients.codes import TeamRole
from tests.factories import make_patient, make_plan, make_user
from tests.referrals.world import World


async def make_world(db: Any, *, pharmacist: bool = False) -> World:
    personas: dict[str, tuple[Discipline, TeamRole | None]] = {
        "lead": (Discipline.ipm_lead, TeamRole.lead),
        "physician": (Discipline.physician, TeamRole.member),
        "nurse": (Discipline.nurse, TeamRole.member),
        "psychologist": (Discipline.psychologist, TeamRole.member),
        "pharmacist": (Discipline.pharmacist, TeamRole.member if pharmacist else None),
        "outsider": (Discipline.physician, None),
    }
    async with db() as s:
        users = {}
        for name, (discipline, _) in personas.items():
            users[name] = await make_user(s, f"{name}-{id(personas)}", discipline=discipline)
        members = [(users[n], role) for n, (_, role) in personas.items() if role is not None]
        patient = await make_patient(s, members=members, name="Robert Chen")
        plan = await make_plan(s, patient, title="Failed back surgery syndrome")
        other = await make_patient(s, members=[(users["outsider"], TeamRole.lead)])
        other_plan = await make_plan(s, other)
        return World(
            plan_id=plan.id or 0,
            patient_id=patient.id or 0,
            other_plan_id=other_plan.id or 0,
            ids={n: u.id or 0 for n, u in users.items()},
            names={n: u.username for n, u in users.items()},
        )
