"""The audit trail: who read or changed which patient's data, written in the same transaction as the work."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CTE, bindparam, func, insert
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.audit.codes import AuditAction, AuditOutcome
from careteam.audit.tables import AuditEntry
from careteam.core.actor import Actor
from careteam.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from careteam.db.types import utcnow

_ENTRIES = SQLModel.metadata.tables["audit_entry"]
_INSERT = insert(_ENTRIES)

# One audit row's values, by column name.
Row = dict[str, Any]
_COLUMNS = (
    "at",
    "user_id",
    "action",
    "patient_id",
    "resource_type",
    "resource_id",
    "outcome",
    "request_id",
    "client_ip",
)


def row(
    actor: Actor | None,
    action: AuditAction,
    resource_type: str,
    resource_id: object | None = None,
    *,
    patient_id: int | None = None,
    outcome: AuditOutcome = AuditOutcome.success,
) -> Row:
    """One audit row, for a write that inserts it together with its other rows (``events.record``)."""
    return {
        "at": utcnow(),
        "user_id": actor.user_id if actor else None,
        "action": action,
        "patient_id": patient_id,
        "resource_type": resource_type,
        "resource_id": None if resource_id is None else str(resource_id),
        "outcome": outcome,
        "request_id": actor.request_id if actor else None,
        "client_ip": actor.client_ip if actor else None,
    }


def record(
    session: AsyncSession,
    actor: Actor | None,
    action: AuditAction,
    resource_type: str,
    resource_id: object | None = None,
    *,
    patient_id: int | None = None,
    outcome: AuditOutcome = AuditOutcome.success,
) -> None:
    """Add one audit row to the current unit of work; it commits, or rolls back, with the work."""
    session.add(
        AuditEntry(**row(actor, action, resource_type, resource_id, patient_id=patient_id, outcome=outcome))
    )


def record_shown(session: AsyncSession, conflict: Conflict) -> None:
    """Record that a refused write showed its resource as it is now: a read of patient data.

    The failed write has rolled back, so this runs in a unit of work of its own. A conflict that shows
    nothing (no ``shown`` or no actor) records nothing.
    """
    if conflict.shown is None or conflict.actor is None:
        return
    resource_type, resource_id, patient_id = conflict.shown
    record(session, conflict.actor, AuditAction.read, resource_type, resource_id, patient_id=patient_id)


async def insert_row(session: AsyncSession, values: Row) -> None:
    """Insert an audit row now, in the current transaction (no ORM flush)."""
    await session.exec(_INSERT, params=values)


async def insert_reads(
    session: AsyncSession, actor: Actor, resource_type: str, items: Iterable[tuple[object, int | None]]
) -> None:
    """``record_reads`` inserted now, in one statement whatever the number of rows (a list's page): the
    statements of a read stay constant as it shows more patients."""
    rows = [row(actor, AuditAction.read, resource_type, rid, patient_id=pid) for rid, pid in items]
    if rows:
        connection = await session.connection()
        await connection.execute(_INSERT, rows)


def insert_cte() -> CTE:
    """An audit row as a data-modifying CTE (PostgreSQL), to ride along another statement.

    Its values are the parameters ``audit_<column>`` (``cte_params``).
    """
    values = {name: bindparam(f"audit_{name}", type_=_ENTRIES.c[name].type) for name in _COLUMNS}
    return insert(_ENTRIES).values(values).cte("audit_row")


def cte_params(values: Row) -> dict[str, Any]:
    return {f"audit_{name}": values[name] for name in _COLUMNS}


def record_reads(
    session: AsyncSession, actor: Actor, resource_type: str, items: Iterable[tuple[object, int | None]]
) -> None:
    """One read entry per (resource id, patient id) shown."""
    for resource_id, patient_id in items:
        record(session, actor, AuditAction.read, resource_type, resource_id, patient_id=patient_id)


async def list_entries(
    session: AsyncSession,
    *,
    actor: Actor,
    user_id: int | None = None,
    patient_id: int | None = None,
    action: AuditAction | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[AuditEntry], int]:
    """The audit trail, newest first, filtered; admins only."""
    if not actor.is_admin:
        raise Forbidden("Only administrators can read the audit trail.")
    since, until = _utc(since, "since"), _utc(until, "until")
    query = select(AuditEntry)
    if user_id is not None:
        query = query.where(AuditEntry.user_id == user_id)
    if patient_id is not None:
        query = query.where(AuditEntry.patient_id == patient_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if since is not None:
        query = query.where(col(AuditEntry.at) >= since)
    if until is not None:
        query = query.where(col(AuditEntry.at) < until)
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = await session.exec(query.order_by(col(AuditEntry.id).desc()).offset(offset).limit(limit))
    return list(rows), int(total)


def _utc(value: datetime | None, field: str) -> datetime | None:
    """A filter bound in UTC (without a zone it is taken as UTC); one that has no UTC time is refused."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValidationFailed("This date is out of range.", field=field) from None


async def get_entry(session: AsyncSession, entry_id: int, *, actor: Actor) -> AuditEntry:
    """One entry of the audit trail; admins only."""
    if not actor.is_admin:
        raise Forbidden("Only administrators can read the audit trail.")
    entry = await session.get(AuditEntry, entry_id)
    if entry is None:
        raise NotFound("No such audit entry.")
    return entry
