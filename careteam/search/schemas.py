"""Search's output shapes."""

from __future__ import annotations

from pydantic import ConfigDict

from careteam.core.schemas import Public
from careteam.search.codes import SearchKind


class PatientRef(Public):
    id: int
    name: str


class SnippetPart(Public):
    """A piece of a snippet: plain text, to be shown as text (never as markup); ``highlighted`` where it
    matched the query."""

    text: str
    highlighted: bool


class SearchResultPublic(Public):
    """A message or task that matched, with the part of its text that matched."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "message",
                    "id": 31,
                    "plan_id": 4,
                    "task_id": None,
                    "patient": {"id": 2, "name": "Ellen Marsh"},
                    "snippet": [
                        {"text": "sleep diary uploaded, worse ", "highlighted": False},
                        {"text": "nights", "highlighted": True},
                        {"text": " after PT days", "highlighted": False},
                    ],
                    "link": "/plans/4#message-31",
                }
            ]
        }
    )

    kind: SearchKind
    id: int
    plan_id: int
    task_id: int | None
    patient: PatientRef
    snippet: list[SnippetPart]
    link: str


class SearchResultsPublic(Public):
    """A page of results, best match first; ``next_offset`` asks for the next page (null: no more)."""

    items: list[SearchResultPublic]
    next_offset: int | None
