"""Who may read and write which care plans, as query filters: a plan is readable by its patient's care team.

Built on the patients' filters (``patients.access``); reads join these selects, and a plan outside them is
"not found", never "forbidden".

A higher feature may also lend a plan for reading only, for a while (a case conference lends its agenda's
plans to invitees off the care team and to observers): it registers a ``ReadGrant`` with
``add_read_grant``. Lent plans are *viewable* (``viewable_plan_ids``: the board and its stream), never
writable: every write, and every other read (threads, tasks one by one, search), stays on the care team.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import union
from sqlalchemy.sql import CompoundSelect, Select
from sqlmodel import col, select

from careteam.core.actor import Actor
from careteam.events.streams import Readers
from careteam.patients.access import (
    Ids,
    UserId,
    clinical_patient_ids_of,
    member_ids_of_patients,
    patient_members,
    shared_patient_ids_of,
)
from careteam.plans.tables import CarePlan


def readable_plan_ids(actor: Actor) -> Ids:
    """Care plans (boards) the actor may read and write: those of her care teams' patients (an EMR interface
    account: of the patients shared with it)."""
    return readable_plan_ids_of(actor.user_id, shared=actor.is_integration)


def readable_plan_ids_of(user_id: UserId, *, shared: bool = False) -> Ids:
    """``readable_plan_ids`` for a user id or, in a statement built once, a bound parameter (``shared``: an
    EMR interface account's, by the patients shared with it)."""
    patients = shared_patient_ids_of(user_id) if shared else clinical_patient_ids_of(user_id)
    return select(col(CarePlan.id)).where(col(CarePlan.patient_id).in_(patients))


def plan_readers(plan_ids: Sequence[int]) -> Select[int, int]:
    """(plan id, user id) of the users on these plans' care teams right now, in one select."""
    team = patient_members().subquery()
    return (
        sa.select(col(CarePlan.id), team.c.user_id)
        .join(team, team.c.patient_id == col(CarePlan.patient_id))
        .where(col(CarePlan.id).in_(plan_ids))
    )


def plan_reader_ids(plan_id: int) -> Ids:
    """Users on a plan's care team right now (who may read and write it)."""
    return member_ids_of_patients(select(col(CarePlan.patient_id)).where(col(CarePlan.id) == plan_id))


class ReadGrant(Protocol):
    """Plans lent for reading, by a higher feature, both ways round; ``now`` bounds the loan in time."""

    def plan_ids(self, user_id: int, now: datetime) -> Ids:
        """The plans lent to this user at ``now``."""
        ...

    def viewers(self, plan_ids: Sequence[int], now: datetime) -> Select[int, int]:
        """(plan id, user id): the users each of these plans is lent to at ``now``, in one select."""
        ...


_GRANTS: list[ReadGrant] = []


def add_read_grant(grant: ReadGrant) -> None:
    """Register a lender of plans (at import of the lending feature's service; once per grant)."""
    if grant not in _GRANTS:
        _GRANTS.append(grant)


def viewable_plan_ids(actor: Actor, now: datetime) -> Ids | CompoundSelect[Any]:
    """Plans whose board the actor may see at ``now``: her care teams' (``readable_plan_ids``) and those lent
    to her, for an ``IN``. Read only: never use it for a write."""
    readable = readable_plan_ids(actor)
    if not _GRANTS:
        return readable
    return union(readable, *(grant.plan_ids(actor.user_id, now) for grant in _GRANTS))


def plan_viewers(plan_ids: Sequence[int], now: datetime) -> Readers:
    """(plan id, user id) of the users who may see these plans' boards at ``now``, their care teams and those
    they are lent to, in one select (the realtime hub re-checks the plans' viewers with it)."""
    team = plan_readers(plan_ids)
    if not _GRANTS:
        return team
    return sa.union_all(team, *(grant.viewers(plan_ids, now) for grant in _GRANTS))
