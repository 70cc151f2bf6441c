"""Search: the messages and tasks a clinician may read that contain every word of a query.

The permission filter is in the query (``plans.access.readable_plan_ids``): another team's thread is never
matched, not matched and then hidden. Documents come from their features' fragments; how they are matched
and cut into snippets is ``fulltext``'s (per dialect). Each patient whose results are shown gets one audited
read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.audit import service as audit
from careteam.core.actor import Actor
from careteam.messaging import service as messaging
from careteam.messaging.schemas import MessagePublic
from careteam.patients import service as patients
from careteam.plans import board, tasks
from careteam.plans.access import readable_plan_ids
from careteam.search import fulltext
from careteam.search.codes import SearchKind
from careteam.search.schemas import PatientRef, SearchResultPublic, SearchResultsPublic, SnippetPart


def _sources() -> dict[SearchKind, sa.Subquery]:
    return {SearchKind.message: messaging.searchable_messages(), SearchKind.task: tasks.searchable_tasks()}


async def search(
    session: AsyncSession,
    q: str,
    *,
    actor: Actor,
    kind: SearchKind | None = None,
    limit: int = 50,
    offset: int = 0,
) -> SearchResultsPublic:
    """The messages and tasks on her patients' plans that contain every word of ``q``, best match first,
    each with its matching text highlighted; removed messages are not found."""
    words = fulltext.terms(q)
    if not words:
        return SearchResultsPublic(items=[], next_offset=None)
    connection = await session.connection()
    arms = [
        fulltext.matching(connection.dialect, k, source, words).where(
            source.c.plan_id.in_(readable_plan_ids(actor))
        )
        for k, source in _sources().items()
        if kind in (None, k)
    ]
    hits = (sa.union_all(*arms) if len(arms) > 1 else arms[0]).subquery("hits")
    names = patients.patient_names()
    query = (
        sa.select(hits, names.c.name)
        .join(names, names.c.id == hits.c.patient_id)
        .order_by(hits.c.score.desc(), hits.c.kind, hits.c.id.desc())
        .limit(limit + 1)
        .offset(offset)
    )
    rows = (await connection.execute(query)).all()
    more = len(rows) > limit
    items = [_result(row) for row in rows[:limit]]
    shown = dict.fromkeys(item.patient.id for item in items)
    await audit.insert_reads(session, actor, "patient", ((pid, pid) for pid in shown))
    return SearchResultsPublic(items=items, next_offset=offset + limit if more else None)


def _result(row: Any) -> SearchResultPublic:
    kind = SearchKind(row.kind)
    return SearchResultPublic(
        kind=kind,
        id=row.id,
        plan_id=row.plan_id,
        task_id=row.task_id,
        patient=PatientRef(id=row.patient_id, name=row.name),
        snippet=[SnippetPart(text=t, highlighted=h) for t, h in fulltext.parts(row.snippet or "")],
        link=f"/plans/{row.plan_id}#{kind.value}-{row.id}",
    )


@dataclass(frozen=True, slots=True)
class Place:
    """Where a result is, for the search page: its plan's title and, for a message, who wrote it and when."""

    plan_title: str
    author: str | None = None
    at: datetime | None = None


# A thread's matching messages are read as one page of it when they are at most this many ids apart.
_SPAN_MOST = 100


async def places(
    session: AsyncSession, items: Sequence[SearchResultPublic], *, actor: Actor
) -> dict[tuple[SearchKind, int], Place]:
    """Each result's ``Place``, by (kind, id), through plans' and messaging's public reads (search's fragments
    carry no author or time): one plan read per plan shown, and one page per thread shown (audited as
    those reads are). Read in the search's unit of work, so every result is still hers to read."""
    titles: dict[int, str] = {}
    for plan_id in dict.fromkeys(item.plan_id for item in items):
        titles[plan_id] = (await board.readable_plan(session, plan_id, actor)).title
    found: dict[int, MessagePublic] = {}
    threads: dict[tuple[int, int | None], list[int]] = {}
    for item in items:
        if item.kind is SearchKind.message:
            threads.setdefault((item.plan_id, item.task_id), []).append(item.id)
    for (plan_id, task_id), ids in threads.items():
        for first, last in _spans(sorted(ids)):
            if task_id is None:
                page = await messaging.list_plan_messages(
                    session, plan_id, actor=actor, after=first - 1, limit=last - first + 1
                )
            else:
                page = await messaging.list_task_messages(
                    session, task_id, actor=actor, after=first - 1, limit=last - first + 1
                )
            found.update((m.id, m) for m in page.items if m.id in ids)
    answer: dict[tuple[SearchKind, int], Place] = {}
    for item in items:
        if item.kind is SearchKind.task:
            answer[(item.kind, item.id)] = Place(titles[item.plan_id])
        elif item.id in found:
            message = found[item.id]
            answer[(item.kind, item.id)] = Place(
                titles[item.plan_id], author=message.author.display_name, at=message.created_at
            )
    return answer


def _spans(ids: list[int]) -> list[tuple[int, int]]:
    """Sorted ids as (first, last) runs, each at most ``_SPAN_MOST`` ids wide."""
    spans: list[tuple[int, int]] = []
    for i in ids:
        if spans and i - spans[-1][0] < _SPAN_MOST:
            spans[-1] = (spans[-1][0], i)
        else:
            spans.append((i, i))
    return spans
