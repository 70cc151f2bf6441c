"""The plan event log: every committed change to a plan appends events with a gapless per-plan ``seq``."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import orjson
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import Insert, UpdateBase, bindparam, func, insert, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.audit import service as audit
from careteam.core.actor import Actor
from careteam.db.engine import after_commit, dumps_json, loaded
from careteam.db.types import utcnow
from careteam.events.tables import PlanEvent
from careteam.plans.tables import CarePlan

_PLANS = SQLModel.metadata.tables["care_plan"]
_EVENTS = SQLModel.metadata.tables["plan_event"]

# Core statements, built once: a write's hot path neither builds a query nor flushes the ORM.
_SEQ_VALUES = {
    "last_seq": _PLANS.c.last_seq + 1,
    "updated_at": bindparam("event_at", type_=_PLANS.c.updated_at.type),
}
_NEXT_SEQ = (
    update(_PLANS)
    .where(_PLANS.c.id == bindparam("event_plan_id"))
    .values(_SEQ_VALUES)
    .returning(_PLANS.c.last_seq)
)
_INSERT_EVENT = insert(_EVENTS)


def _next_seq_with_event() -> Insert:
    """PostgreSQL: the plan's next seq and the event row in one statement (a data-modifying CTE)."""
    seq = (
        update(_PLANS)
        .where(_PLANS.c.id == bindparam("event_plan_id"))
        .values(_SEQ_VALUES)
        .returning(_PLANS.c.id, _PLANS.c.last_seq)
        .cte("next_seq")
    )
    row = sa.select(
        seq.c.id,
        seq.c.last_seq,
        bindparam("event_kind", type_=_EVENTS.c.kind.type),
        bindparam("event_data", type_=_EVENTS.c.data.type),
        bindparam("event_actor_id", type_=_EVENTS.c.actor_id.type),
        bindparam("event_at", type_=_EVENTS.c.at.type),
    )
    return (
        insert(_EVENTS)
        .from_select(["plan_id", "seq", "kind", "data", "actor_id", "at"], row)
        .returning(_EVENTS.c.id, _EVENTS.c.seq)
    )


_NEXT_SEQ_WITH_EVENT = _next_seq_with_event()

# A write that goes with an event (the change it describes): a Core statement and its parameters. On
# PostgreSQL all share one statement, where a parameter named like a column of an updated table would be
# taken as a value to set: name them ``new_<column>`` (as record's are ``event_*`` and audit's ``audit_*``).
Change = tuple[UpdateBase, Mapping[str, Any]]


@functools.lru_cache(maxsize=1024)
def _in_one_statement(change: UpdateBase | None, audited: bool) -> Insert:
    """PostgreSQL: the change, the audit row, the plan's next seq and the event in one statement."""
    statement = _NEXT_SEQ_WITH_EVENT
    if change is not None:
        statement = statement.add_cte(change.cte("change"))
    if audited:
        statement = statement.add_cte(audit.insert_cte())
    return statement


async def record(
    session: AsyncSession,
    plan: CarePlan | int,
    kind: str,
    data: BaseModel | dict[str, Any],
    *,
    actor: Actor | None,
    change: Change | None = None,
    audited: audit.Row | None = None,
) -> PlanEvent:
    """Append one event to a plan's log in the current transaction, after ``change`` and with ``audited``.

    The seq comes from ``UPDATE care_plan SET last_seq = last_seq + 1 ... RETURNING last_seq``. On
    PostgreSQL that locks the plan row until commit, so the writers of one plan take their seqs one after
    the other, each after the one before has committed; on SQLite the write lock does the same. No two
    writers take the same seq, and a rolled-back change leaves neither event nor gap. Call it last in a
    write: the plan stays locked from here to the commit. On PostgreSQL ``change``, audit row, seq and
    event are one statement (data-modifying CTEs): one round trip.

    Once the unit of work has committed, the events it recorded go to the session's publisher (``PUBLISHER``
    in the sessionmaker's ``info``: this process's hub and the broker, or the broker alone in the CLI), from
    any caller: a route, the CLI, a scheduled job.
    """
    # A dict goes through JSON, so it is exactly what a read of the row returns (tuples become lists).
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else orjson.loads(dumps_json(data))
    plan_id = plan if isinstance(plan, int) else plan.id or 0
    actor_id = actor.user_id if actor else None
    at = utcnow()
    values = {"plan_id": plan_id, "kind": kind, "data": payload, "actor_id": actor_id, "at": at}
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        statement = _in_one_statement(None if change is None else change[0], audited is not None)
        params = {
            **{f"event_{name}": value for name, value in values.items()},
            **(change[1] if change is not None else {}),
            **(audit.cte_params(audited) if audited is not None else {}),
        }
        event_id, seq = (await session.exec(statement, params=params)).one()
    else:
        if change is not None:
            await session.exec(change[0], params=change[1])
        if audited is not None:
            await audit.insert_row(session, audited)
        seq = (await session.exec(_NEXT_SEQ, params={"event_plan_id": plan_id, "event_at": at})).scalar_one()
        inserted = await session.exec(_INSERT_EVENT, params={**values, "seq": seq})
        event_id = inserted.inserted_primary_key[0] if inserted.inserted_primary_key else None
    if not isinstance(plan, int):
        # The row has these values now; the ORM must not write its stale ones back.
        set_committed_value(plan, "last_seq", seq)
        set_committed_value(plan, "updated_at", at)
    event = loaded(PlanEvent, {"id": event_id, "seq": seq, **values})
    session.info.setdefault(_RECORDED, []).append(event)
    after_commit(session, _publish)
    return event


# The sessionmaker's ``info`` key for what publishes committed events (see ``Publisher``).
PUBLISHER: Final = "careteam.events.publisher"
_RECORDED: Final = "careteam.events.recorded"

# Gets the events a unit of work committed, in the order recorded; must not raise for an outage.
Publisher = Callable[[list[PlanEvent]], Awaitable[None]]


def discard_unpublished(session: AsyncSession) -> None:
    """Forget the events recorded so far in this unit of work: rolled back to a savepoint, never sent."""
    session.info.pop(_RECORDED, None)


async def _publish(session: AsyncSession) -> None:
    recorded: list[PlanEvent] = session.info.pop(_RECORDED, [])
    publisher: Publisher | None = session.info.get(PUBLISHER)
    if recorded and publisher is not None:
        await publisher(recorded)


async def lock_plan(session: AsyncSession, plan_id: int) -> CarePlan | None:
    """The plan row, locked for this transaction (PostgreSQL row lock; SQLite holds the write lock)."""
    return (await session.exec(select(CarePlan).where(CarePlan.id == plan_id).with_for_update())).first()


async def read_after(
    session: AsyncSession, plan_id: int, after: int, *, limit: int | None = None
) -> list[PlanEvent]:
    """Events of a plan with seq > after, in seq order."""
    query = (
        select(PlanEvent)
        .where(PlanEvent.plan_id == plan_id, col(PlanEvent.seq) > after)
        .order_by(col(PlanEvent.seq))
    )
    if limit is not None:
        query = query.limit(limit)
    return list(await session.exec(query))


async def last_seqs(session: AsyncSession, plan_ids: list[int]) -> dict[int, int]:
    """The newest seq of each of these plans, in one query."""
    rows = await session.exec(
        select(col(CarePlan.id), col(CarePlan.last_seq)).where(col(CarePlan.id).in_(plan_ids))
    )
    return {int(plan_id or 0): int(seq) for plan_id, seq in rows}


async def resync_reason(
    session: AsyncSession, plan_id: int, after: int, last_seq: int, window: int | None = None
) -> str | None:
    """Why a client that saw up to ``after`` cannot be caught up from the log (it must reload), or None.

    The one rule for every reader of the log: the websocket replay (which also has a ``window``: a replay
    is sent in one go) and ``GET /plans/{id}/events`` (paginated, so no window).
    """
    if after > last_seq:
        return "ahead_of_log"  # another database, or a reset
    if window is not None and last_seq - after > window:
        return "too_far_behind"
    if after < last_seq:
        oldest = await oldest_seq(session, plan_id)
        if oldest is None or oldest > after + 1:
            return "log_pruned"
    return None


async def oldest_seq(session: AsyncSession, plan_id: int) -> int | None:
    """The oldest seq still in the log for a plan (older ones may have been pruned)."""
    return (await session.exec(select(func.min(PlanEvent.seq)).where(PlanEvent.plan_id == plan_id))).one()
