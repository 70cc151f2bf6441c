"""Search's HTML page: ``/search?q=`` lists the messages and tasks a clinician may read that contain every
word, best match first, each with its highlighted snippet and a link to its place on the board.

The query and the permission filter are the search service's (the JSON API's ``GET /api/v1/search`` gives
the same results); the page adds where each result is (``search.service.places``). Snippet parts stay text:
the template puts ``<mark>`` around the highlighted ones and escapes every part.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from careteam.search import service as search_service
from careteam.search.codes import Q_MAX, SearchKind
from careteam.search.schemas import SearchResultPublic
from careteam.search.service import Place
from careteam.web.forms import Db, PageRoute, Viewer
from careteam.web.templating import render

# Results per page of /search.
RESULTS_PER_PAGE = 20

router = APIRouter(route_class=PageRoute, include_in_schema=False)

KIND_LABELS = {"message": "Message", "comment": "Task comment", "task": "Task"}


def result_view(item: SearchResultPublic, place: Place | None) -> dict[str, Any]:
    """A result as the page shows it: what it is, whose and where, when, and its snippet's parts."""
    kind = "comment" if item.kind is SearchKind.message and item.task_id is not None else item.kind.value
    return {
        "key": f"{item.kind.value}-{item.id}",
        "kind": kind,
        "kind_label": KIND_LABELS[kind],
        "patient": item.patient.name,
        "plan_title": place.plan_title if place else "",
        "author": place.author if place else None,
        "at": place.at if place else None,
        "parts": [(part.text, part.highlighted) for part in item.snippet],
        "link": item.link,
    }


def _offset(raw: str) -> int:
    """A lenient ``?offset=``: a whole number of results, or the first page."""
    raw = raw.strip()
    return int(raw) if raw.isascii() and raw.isdecimal() and len(raw) < 10 else 0


@router.get("/search")
async def search_page(
    request: Request, session: Db, actor: Viewer, q: str = "", offset: str = ""
) -> Response:
    """Messages and tasks on your patients' plans that contain every word you typed."""
    q = q.strip()
    start = _offset(offset)
    error = None
    items: list[SearchResultPublic] = []
    next_offset = None
    if len(q) > Q_MAX:
        error = f"Search for at most {Q_MAX} characters."
    elif q:
        found = await search_service.search(session, q, actor=actor, limit=RESULTS_PER_PAGE, offset=start)
        items, next_offset = found.items, found.next_offset
    where = await search_service.places(session, items, actor=actor)
    context = {
        "section": "search",
        "q": q,
        "error": error,
        "results": [result_view(item, where.get((item.kind, item.id))) for item in items],
        "first": start + 1,
        "next_url": _url(q, next_offset) if next_offset is not None else None,
        "prev_url": _url(q, max(start - RESULTS_PER_PAGE, 0)) if start > 0 and q and not error else None,
        "q_max": Q_MAX,
    }
    return render(request, "search/search.html", context, status_code=422 if error else 200)


def _url(q: str, offset: int) -> str:
    query = {"q": q} | ({"offset": str(offset)} if offset else {})
    return f"/search?{urlencode(query)}"
