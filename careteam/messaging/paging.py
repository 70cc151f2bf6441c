"""A thread's pages by message id, for the plan's threads and the direct conversations alike.

Cursors are ids, so a page stays the same while new messages arrive: ``before`` (or none) pages back from
the newest, newest first; ``after`` forward from an id, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

Row = TypeVar("Row")


@dataclass(frozen=True, slots=True)
class IdPage(Generic[Row]):
    """One page's rows, and the cursor of the next page in the same direction (None: no more)."""

    rows: list[Row]
    next_before: int | None
    next_after: int | None


async def by_id(
    session: AsyncSession,
    query: SelectOfScalar[Row],
    id_column: Any,
    *,
    before: int | None,
    after: int | None,
    limit: int,
) -> IdPage[Row]:
    """``query`` (a thread's messages, filtered) paged by ``id_column``: one query, ``limit`` + 1 rows."""
    if after is not None:
        query = query.where(id_column > after).order_by(id_column)
    else:
        if before is not None:
            query = query.where(id_column < before)
        query = query.order_by(id_column.desc())
    rows = list(await session.exec(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    last: int | None = getattr(rows[-1], "id", None) if more and rows else None
    return IdPage(
        rows=rows,
        next_before=last if after is None else None,
        next_after=last if after is not None else None,
    )
