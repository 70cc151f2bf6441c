"""The plan event log: every committed change to a plan appends events with a gapless per-plan ``seq``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.domain.actor import Actor
from careteam.store.tables import CarePlan, PlanEvent
from careteam.store.types import utcnow


async def record(
    session: AsyncSession, plan: CarePlan, kind: str, data: BaseModel | dict[str, Any], *, actor: Actor | None
) -> PlanEvent:
    """Append one event in the current transaction; the plan row must be locked (``lock_plan``).

    The seq comes from ``plan.last_seq`` in the same transaction, so two writers can never take the same
    seq, and a rolled-back change leaves no event. After commit, the unit of work announces
    ``(plan_id, seq)`` on the broker.
    """
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    plan.last_seq += 1
    plan.updated_at = utcnow()
    event = PlanEvent(
        plan_id=plan.id or 0,
        seq=plan.last_seq,
        kind=kind,
        data=payload,
        actor_id=actor.user_id if actor else None,
    )
    session.add(plan)
    session.add(event)
    await session.flush()
    notices: list[tuple[int, int]] = session.info.setdefault("plan_notices", [])
    notices.append((event.plan_id, event.seq))
    return event


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
