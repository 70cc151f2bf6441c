"""The event log: every committed change appends events to a stream (``plan:42``, ``user:12``), each stream
with a gapless ``seq``; read back after a seq for replay, with one rule for when a reader must resync.

The statements here are built once (Core, not the ORM): a write's hot path neither builds a query nor flushes.
The dialect-specific ones (PostgreSQL's single-statement write, the upsert of a stream's head) live here and
nowhere in a feature's service.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Final

import orjson
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import Insert, UpdateBase, bindparam, delete, func, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.audit import service as audit
from careteam.core.actor import Actor
from careteam.db.engine import after_commit, dumps_json, loaded
from careteam.db.types import utcnow
from careteam.events.streams import Stream
from careteam.events.tables import StreamEvent, StreamHead

_HEADS = SQLModel.metadata.tables[StreamHead.__tablename__]
_EVENTS = SQLModel.metadata.tables[StreamEvent.__tablename__]


def _next_seq(dialect: Any) -> Insert:
    """The stream's next seq: its head row inserted at 1, or (it exists) bumped by one; RETURNING the seq.

    The upsert locks the head row to the commit, so writers of one stream take seqs one after the other, and
    two writers starting a new stream at once cannot both take seq 1.
    """
    head = dialect.insert(_HEADS).values(
        stream_kind=bindparam("event_stream_kind", type_=_HEADS.c.stream_kind.type),
        stream_id=bindparam("event_stream_id", type_=_HEADS.c.stream_id.type),
        last_seq=1,
    )
    upsert: Insert = head.on_conflict_do_update(
        index_elements=[_HEADS.c.stream_kind, _HEADS.c.stream_id],
        set_={"last_seq": _HEADS.c.last_seq + 1},
    ).returning(_HEADS.c.last_seq)
    return upsert


_NEXT_SEQ_SQLITE = _next_seq(sqlite)
_INSERT_EVENT = sa.insert(_EVENTS)


def _next_seq_with_event() -> Insert:
    """PostgreSQL: the stream's next seq and the event row in one statement (a data-modifying CTE)."""
    seq = _next_seq(postgresql).cte("next_seq")
    row = sa.select(
        bindparam("event_stream_kind", type_=_EVENTS.c.stream_kind.type),
        bindparam("event_stream_id", type_=_EVENTS.c.stream_id.type),
        seq.c.last_seq,
        bindparam("event_kind", type_=_EVENTS.c.kind.type),
        bindparam("event_data", type_=_EVENTS.c.data.type),
        bindparam("event_actor_id", type_=_EVENTS.c.actor_id.type),
        bindparam("event_at", type_=_EVENTS.c.at.type),
    )
    return (
        sa.insert(_EVENTS)
        .from_select(["stream_kind", "stream_id", "seq", "kind", "data", "actor_id", "at"], row)
        .returning(_EVENTS.c.id, _EVENTS.c.seq)
    )


_NEXT_SEQ_WITH_EVENT = _next_seq_with_event()

# A write that goes with an event (the change it describes): a Core statement and its parameters. On
# PostgreSQL all share one statement, where a parameter named like a column of an updated table would be
# taken as a value to set: name them ``new_<column>`` (as record's are ``event_*`` and audit's ``audit_*``).
Change = tuple[UpdateBase, Mapping[str, Any]]


@functools.lru_cache(maxsize=1024)
def _in_one_statement(change: UpdateBase | None, audited: bool) -> Insert:
    """PostgreSQL: the change, the audit row, the stream's next seq and the event in one statement."""
    statement = _NEXT_SEQ_WITH_EVENT
    if change is not None:
        statement = statement.add_cte(change.cte("change"))
    if audited:
        statement = statement.add_cte(audit.insert_cte())
    return statement


async def record(
    session: AsyncSession,
    stream: Stream,
    kind: str,
    data: BaseModel | dict[str, Any],
    *,
    actor: Actor | None,
    change: Change | None = None,
    audited: audit.Row | None = None,
) -> StreamEvent:
    """Append one event to a stream in the current transaction, after ``change`` and with ``audited``.

    The seq comes from the stream's head row (``_next_seq``), locked from here to the commit: writers of
    one stream take their seqs one after the other, each after the one before has committed; on SQLite the
    write lock does the same. No two writers take the same seq, and a rolled-back change leaves neither
    event nor gap. Call it last in a write. On PostgreSQL ``change``, audit row, seq and event are one
    statement (data-modifying CTEs): one round trip.

    Once the unit of work has committed, the events it recorded go to the session's publisher (``PUBLISHER``
    in the sessionmaker's ``info``: this process's hub and the broker, or the broker alone in the CLI), from
    any caller: a route, the CLI, a scheduled job.
    """
    # A dict goes through JSON, so it is exactly what a read of the row returns (tuples become lists).
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else orjson.loads(dumps_json(data))
    actor_id = actor.user_id if actor else None
    values = {
        "stream_kind": stream.kind,
        "stream_id": stream.id,
        "kind": str(kind),  # a feature's StrEnum member: its value
        "data": payload,
        "actor_id": actor_id,
        "at": utcnow(),
    }
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
        head = {"event_stream_kind": stream.kind, "event_stream_id": stream.id}
        seq = (await session.exec(_NEXT_SEQ_SQLITE, params=head)).scalar_one()
        inserted = await session.exec(_INSERT_EVENT, params={**values, "seq": seq})
        event_id = inserted.inserted_primary_key[0] if inserted.inserted_primary_key else None
    event = loaded(StreamEvent, {"id": event_id, "seq": seq, **values})
    session.info.setdefault(_RECORDED, []).append(event)
    after_commit(session, _publish)
    return event


# The sessionmaker's ``info`` key for what publishes committed events (see ``Publisher``).
PUBLISHER: Final = "careteam.events.publisher"
_RECORDED: Final = "careteam.events.recorded"

# Gets the events a unit of work committed, in the order recorded; must not raise for an outage.
Publisher = Callable[[list[StreamEvent]], Awaitable[None]]


def discard_unpublished(session: AsyncSession) -> None:
    """Forget the events recorded so far in this unit of work: rolled back to a savepoint, never sent."""
    session.info.pop(_RECORDED, None)


async def _publish(session: AsyncSession) -> None:
    recorded: list[StreamEvent] = session.info.pop(_RECORDED, [])
    publisher: Publisher | None = session.info.get(PUBLISHER)
    if recorded and publisher is not None:
        await publisher(recorded)


def _of(stream: Stream) -> list[Any]:
    return [col(StreamEvent.stream_kind) == stream.kind, col(StreamEvent.stream_id) == stream.id]


async def read_after(
    session: AsyncSession, stream: Stream, after: int, *, limit: int | None = None
) -> list[StreamEvent]:
    """Events of a stream with seq > after, in seq order."""
    query = (
        select(StreamEvent).where(*_of(stream), col(StreamEvent.seq) > after).order_by(col(StreamEvent.seq))
    )
    if limit is not None:
        query = query.limit(limit)
    return list(await session.exec(query))


async def read_since(
    session: AsyncSession, stream: Stream, since: datetime, *, until: datetime | None = None, limit: int
) -> list[StreamEvent]:
    """Events of a stream recorded after ``since`` (and, with ``until``, not after it), in seq order."""
    query = select(StreamEvent).where(*_of(stream), col(StreamEvent.at) > since)
    if until is not None:
        query = query.where(col(StreamEvent.at) <= until)
    return list(await session.exec(query.order_by(col(StreamEvent.seq)).limit(limit)))


async def last_seq(session: AsyncSession, stream: Stream) -> int:
    """The stream's newest seq (0 if it has had no event)."""
    return (await last_seqs(session, [stream])).get(stream, 0)


async def last_seqs(session: AsyncSession, streams: list[Stream]) -> dict[Stream, int]:
    """The newest seq of each of these streams that has had an event, in one query."""
    if not streams:
        return {}
    key = tuple_(col(StreamHead.stream_kind), col(StreamHead.stream_id))
    rows = await session.exec(
        select(col(StreamHead.stream_kind), col(StreamHead.stream_id), col(StreamHead.last_seq)).where(
            key.in_([(s.kind, s.id) for s in streams])
        )
    )
    return {Stream(kind, int(stream_id)): int(seq) for kind, stream_id, seq in rows}


async def resync_reason(
    session: AsyncSession, stream: Stream, after: int, last_seq: int, window: int | None = None
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
        oldest = await oldest_seq(session, stream)
        if oldest is None or oldest > after + 1:
            return "log_pruned"
    return None


async def oldest_seq(session: AsyncSession, stream: Stream) -> int | None:
    """The oldest seq still in the log for a stream (older ones may have been pruned)."""
    oldest: int | None = (await session.exec(select(func.min(StreamEvent.seq)).where(*_of(stream)))).one()
    return oldest


async def prune(session: AsyncSession, kind: str, *, before: datetime) -> int:
    """Delete the events of every stream of ``kind`` recorded before ``before``; how many went.

    The streams' heads stay: a reader behind the pruned range gets ``log_pruned`` (resync), never a gap.
    """
    result = await session.exec(
        delete(StreamEvent).where(col(StreamEvent.stream_kind) == kind, col(StreamEvent.at) < before)
    )
    return int(result.rowcount or 0)
