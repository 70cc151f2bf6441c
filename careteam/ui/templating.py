"""Jinja2 for the HTML pages: one environment, autoescaped, and the context every page gets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from careteam.codes import DISCIPLINE_LABELS, Discipline

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "web" / "templates"


def discipline_label(value: object) -> str:
    try:
        return DISCIPLINE_LABELS[Discipline(str(value))]
    except ValueError:
        return str(value)


def status_label(value: object) -> str:
    """``entered-in-error`` -> ``Entered in error``."""
    return str(value).replace("-", " ").replace("_", " ").capitalize()


def utc_time(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def iso_date(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def age_on(birth_date: date, today: date) -> int:
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    # Every template is HTML: escape everything, whatever the file name.
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(
    discipline=discipline_label,
    status=status_label,
    utc_time=utc_time,
    iso_date=iso_date,
)
_env.globals.update(age_on=age_on, disciplines=[(d.value, DISCIPLINE_LABELS[d]) for d in Discipline])

templates = Jinja2Templates(env=_env)


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a page with the common context: the signed-in ``actor`` and the session's ``csrf_token``.

    Both come from ``request.state``, where the pages' sign-in dependency put them (None before sign-in).
    """
    full: dict[str, Any] = {
        "actor": getattr(request.state, "actor", None),
        "csrf_token": getattr(request.state, "csrf_token", None),
        "section": None,
    }
    full.update(context or {})
    return templates.TemplateResponse(request, name, full, status_code=status_code, headers=headers)


_HTTP_TITLES = {404: "Page not found", 405: "Not allowed here", 401: "Please sign in"}


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    """An HTTP error outside the pages' own routes (unknown address, wrong method), for a browser."""
    title = _HTTP_TITLES.get(status, "Something went wrong")
    shown = "There is no page at this address." if status == 404 else detail
    return render(
        request, "error.html", {"status": status, "title": title, "detail": shown}, status_code=status
    )


@dataclass(frozen=True, slots=True)
class Pager:
    """Page links for a list: 1-based ``page``, keeping the list's filters in every link."""

    path: str
    page: int
    size: int
    total: int
    params: tuple[tuple[str, str], ...] = ()

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first_shown(self) -> int:
        return 0 if self.total == 0 else self.offset + 1

    @property
    def last_shown(self) -> int:
        return min(self.total, self.offset + self.size)

    def url(self, page: int) -> str:
        query = [(k, v) for k, v in self.params if v] + ([("page", str(page))] if page > 1 else [])
        return f"{self.path}?{urlencode(query)}" if query else self.path

    @property
    def prev_url(self) -> str | None:
        return self.url(self.page - 1) if self.page > 1 else None

    @property
    def next_url(self) -> str | None:
        return self.url(self.page + 1) if self.page < self.pages else None


def page_number(raw: str | None, *, limit: int = 100_000) -> int:
    """A lenient ``?page=``: anything that is not a sensible page number is page 1."""
    try:
        value = int(raw or "1")
    except ValueError:
        return 1
    return value if 1 <= value <= limit else 1
