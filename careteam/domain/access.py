"""Who may read and write what: the one place that says it, as query filters.

Reads join these selects; an object outside them is "not found", never "forbidden".
Admins manage accounts and team membership but read clinical content only where they are on the team.
"""

from __future__ import annotations

from sqlalchemy import Select, or_, select

from careteam.codes import Discipline, TeamRole
from careteam.domain.actor import Actor
from careteam.store.tables import CarePlan, CareTeam, CareTeamMember, Patient


def clinical_patient_ids(actor: Actor) -> Select[tuple[int]]:
    """Patients whose clinical content (plans, tasks, threads) the actor may read and write."""
    return (
        select(CareTeam.patient_id)
        .join(CareTeamMember, CareTeamMember.team_id == CareTeam.id)
        .where(CareTeamMember.user_id == actor.user_id)
    )


def visible_patient_ids(actor: Actor) -> Select[tuple[int]]:
    """Patients whose demographics and care team the actor may see: their own, or all for an admin."""
    if actor.is_admin:
        return select(Patient.id)
    return clinical_patient_ids(actor)


def manageable_team_ids(actor: Actor) -> Select[tuple[int]]:
    """Care teams whose membership the actor may change: any for an admin; else where she leads."""
    if actor.is_admin:
        return select(CareTeam.id)
    return select(CareTeamMember.team_id).where(
        CareTeamMember.user_id == actor.user_id,
        or_(CareTeamMember.role == TeamRole.lead, actor.discipline == Discipline.ipm_lead),
    )


def readable_plan_ids(actor: Actor) -> Select[tuple[int]]:
    """Care plans (boards) the actor may read and write: those of her care teams' patients."""
    return select(CarePlan.id).where(CarePlan.patient_id.in_(clinical_patient_ids(actor)))  # type: ignore[attr-defined]


def plan_reader_ids(plan_id: int) -> Select[tuple[int]]:
    """Users who may read a plan right now (the realtime hub re-checks its viewers against this)."""
    return (
        select(CareTeamMember.user_id)
        .join(CareTeam, CareTeam.id == CareTeamMember.team_id)
        .join(CarePlan, CarePlan.patient_id == CareTeam.patient_id)
        .where(CarePlan.id == plan_id)
    )
