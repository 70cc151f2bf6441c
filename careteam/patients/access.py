"""Who may read and write what: the one place that says it, as query filters.

Reads join these selects; an object outside them is "not found", never "forbidden".
Admins manage accounts and team membership but read clinical content only where they are on the team.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement
from sqlalchemy.sql import Select
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from careteam.core.actor import Actor
from careteam.core.vocab import Discipline
from careteam.patients.codes import TeamRole
from careteam.patients.tables import CareTeam, CareTeamMember, Patient, PatientShare

# A select of ids, to be used as ``col(X.id).in_(...)``.
Ids = SelectOfScalar[Any]

# A user's id, or a bound parameter standing for it in a statement built once (``bindparam("user_id")``).
UserId = int | ColumnElement[int]


def patient_members() -> Select[int, int]:
    """(patient id, user id) of every care team member: for a feature to join its rows to their patients'
    care teams (a plan's readers, all plans at once)."""
    return sa.select(col(CareTeam.patient_id), col(CareTeamMember.user_id)).join(
        CareTeamMember, col(CareTeamMember.team_id) == col(CareTeam.id)
    )


def clinical_patient_ids(actor: Actor) -> Ids:
    """Patients whose clinical content (plans, tasks, threads) the actor may read and write: her care teams'
    patients; for an EMR interface account, the patients shared with it."""
    if actor.is_integration:
        return shared_patient_ids_of(actor.user_id)
    return clinical_patient_ids_of(actor.user_id)


def shared_patient_ids_of(user_id: UserId) -> Ids:
    """Patients shared with an EMR interface account (``clinical_patient_ids`` for such an account)."""
    return select(col(PatientShare.patient_id)).where(col(PatientShare.user_id) == user_id)


def clinical_patient_ids_of(user_id: UserId) -> Ids:
    return (
        select(col(CareTeam.patient_id))
        .join(CareTeamMember, col(CareTeamMember.team_id) == col(CareTeam.id))
        .where(col(CareTeamMember.user_id) == user_id)
    )


def visible_patient_ids(actor: Actor) -> Ids:
    """Patients whose demographics and care team the actor may see: their own, or all for an admin."""
    if actor.is_admin:
        return select(col(Patient.id))
    return select(col(CareTeam.patient_id)).where(col(CareTeam.patient_id).in_(clinical_patient_ids(actor)))


def manageable_team_ids(actor: Actor) -> Ids:
    """Care teams whose membership the actor may change: any for an admin; else where she leads."""
    if actor.is_admin:
        return select(col(CareTeam.id))
    where = [col(CareTeamMember.user_id) == actor.user_id]
    if actor.discipline is not Discipline.ipm_lead:  # an IPM lead manages every team she is on
        where.append(col(CareTeamMember.role) == TeamRole.lead)
    return select(col(CareTeamMember.team_id)).where(*where)


def member_ids_of_patients(patient_ids: Ids) -> Ids:
    """Users on the care teams of these patients (``patient_ids`` a select of ids)."""
    return (
        select(col(CareTeamMember.user_id))
        .join(CareTeam, col(CareTeam.id) == col(CareTeamMember.team_id))
        .where(col(CareTeam.patient_id).in_(patient_ids))
    )
