"""Who may read and write which care plans, as query filters: a plan is readable by its patient's care team.

Built on the patients' filters (``patients.access``); reads join these selects, and a plan outside them is
"not found", never "forbidden".
"""

from __future__ import annotations

from sqlmodel import col, select

from careteam.core.actor import Actor
from careteam.patients.access import Ids, UserId, clinical_patient_ids_of, member_ids_of_patients
from careteam.plans.tables import CarePlan


def readable_plan_ids(actor: Actor) -> Ids:
    """Care plans (boards) the actor may read and write: those of her care teams' patients."""
    return readable_plan_ids_of(actor.user_id)


def readable_plan_ids_of(user_id: UserId) -> Ids:
    """``readable_plan_ids`` for a user id or, in a statement built once, a bound parameter."""
    return select(col(CarePlan.id)).where(col(CarePlan.patient_id).in_(clinical_patient_ids_of(user_id)))


def plan_reader_ids(plan_id: int) -> Ids:
    """Users who may read a plan right now (the realtime hub re-checks its viewers against this)."""
    return member_ids_of_patients(select(col(CarePlan.patient_id)).where(col(CarePlan.id) == plan_id))
