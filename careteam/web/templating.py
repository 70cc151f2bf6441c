"""Jinja2 for the HTML pages: one environment, autoescaped, and the context every page gets."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import chain
from operator import itemgetter
from typing import Any
from urllib.parse import urlencode

import jinja2
import jinja2.ext
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from careteam import resources
from careteam.core.vocab import DISCIPLINE_LABELS, Discipline


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


# Lines that begin a template opting in to losing its indentation (its first characters: "{#- dedent").
_DEDENT_MARK = "{#- dedent"
_INDENT = re.compile(r"^[ \t]+", re.MULTILINE)


class _Dedent(jinja2.ext.Extension):
    """A template that starts with ``{#- dedent`` is loaded without the indentation of its lines: for markup
    a page repeats hundreds of times (the board's cards), where indentation is a third of the bytes. HTML
    reads a run of white space as one, so only the size changes (such a template holds no <pre>)."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return _INDENT.sub("", source) if source.startswith(_DEDENT_MARK) else source


_env = jinja2.Environment(
    extensions=[_Dedent],
    loader=jinja2.FileSystemLoader(resources.TEMPLATES),
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
    """Render a page with the common context: the signed-in ``actor``, the session's ``csrf_token`` and her
    ``unread`` notifications (the header's badge).

    They come from ``request.state``, where the pages' sign-in dependency put them (None before sign-in).
    """
    full: dict[str, Any] = {
        "request": request,
        "actor": getattr(request.state, "actor", None),
        "csrf_token": getattr(request.state, "csrf_token", None),
        "unread": getattr(request.state, "unread", None),
        "section": None,
    }
    full.update(context or {})
    # Encoded piece by piece rather than as one string: a page is one str, and a single “ or … in it makes
    # CPython hold all of it at 2 bytes a character and encode it the slow way (1.5 ms for a 1 MB board).
    body = b"".join(piece.encode() for piece in _env.get_template(name).generate(full))
    return HTMLResponse(body, status_code=status_code, headers=headers)


# --- Stamps: one macro, hundreds of items --------------------------------------------------------

# Marks a field in a stamp, and separates the values escaped together; no user text holds it (request
# bodies refuse NUL characters, PostgreSQL cannot store them), and Stamp falls back if one ever does.
_SEP = "\x00"


class _Marker(Markup):
    """A field's place in a stamp. Truth-testing it means the macro branches on a field that is not a flag:
    the stamp would be wrong for some items, so it is an error."""

    __slots__ = ()

    def __bool__(self) -> bool:
        raise TypeError(f"a stamped macro may use {self.strip(_SEP)!r} only as {{{{ item.field }}}}")


class _Slots:
    """The item a macro is stamped with: the flags' values, and a marker for every other field."""

    def __init__(self, flags: Mapping[str, bool]) -> None:
        self._flags = flags

    def __getattr__(self, name: str) -> object:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._flags:
            return self._flags[name]
        return _Marker(f"{_SEP}{name}{_SEP}")


def _getter(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """The values of ``names`` in an item, as a tuple (``itemgetter``, also for one name)."""
    if not names:
        return lambda _item: ()
    if len(names) == 1:
        only = names[0]
        return lambda item: (item[only],)
    return itemgetter(*names)  # a tuple for two names or more


@dataclass(frozen=True, slots=True)
class _Form:
    """A macro rendered for one combination of flags: its text, split at the fields."""

    parts: list[str]  # the literal text at even positions; a field's place (filled per item) at odd ones
    values_of: Callable[[Mapping[str, Any]], tuple[Any, ...]]  # the fields' values, in order
    count: int


class Stamp:
    """A macro of one item, rendered once per combination of the item's flags and then filled per item.

    For markup repeated hundreds of times on a page (the board's task cards), where calling the macro for
    each item would be most of the page's cost. The macro stays the one source of the markup, with one
    rule: it uses the ``flags`` (booleans) only in ``{% if %}``, and every other field only as
    ``{{ item.field }}``, with no filter, test or comparison on it. Filling puts each field's value in its
    place, escaped as ``{{ }}`` escapes text, so a stamped item equals the macro's own rendering. (Values are
    text: a ``Markup`` value is escaped like any other string.)
    """

    def __init__(self, macro: Callable[[Any], str], flags: Iterable[str]) -> None:
        self._macro = macro
        self._flags = tuple(flags)
        self._flags_of = _getter(self._flags)
        self._forms: dict[tuple[Any, ...], _Form] = {}  # by the flags' values

    def __call__(self, item: Mapping[str, Any]) -> str:
        """The item's markup, as ``macro(item)`` renders it."""
        return str(self.many((item,)))

    def many(self, items: Iterable[Mapping[str, Any]]) -> Markup:
        """The items' markup, one after another."""
        forms: list[_Form] = []
        values: list[tuple[Any, ...]] = []
        for item in items:
            key = self._flags_of(item)
            form = self._forms.get(key) or self._stamp(key)
            forms.append(form)
            values.append(form.values_of(item))
        flat = list(chain.from_iterable(values))
        # One escape call for every value of every item (escaping is per character, so joining is safe).
        escaped = str(escape(_SEP.join(map(str, flat)))).split(_SEP)  # str(): Markup.split is slow
        if len(escaped) != len(flat):  # a value held the separator
            escaped = [str(escape(str(value))) for value in flat]
        out: list[str] = []
        start = 0
        for form in forms:
            parts = form.parts.copy()
            parts[1::2] = escaped[start : start + form.count]
            out += parts
            start += form.count
        return Markup("".join(out))  # noqa: S704 - every value escaped above

    def _stamp(self, key: tuple[Any, ...]) -> _Form:
        if not all(isinstance(flag, bool) for flag in key):
            raise TypeError(f"the flags {self._flags} must be booleans, not {key!r}")
        parts = str(self._macro(_Slots(dict(zip(self._flags, key, strict=True))))).split(_SEP)
        fields = tuple(parts[1::2])
        form = self._forms[key] = _Form(parts, _getter(fields), len(fields))
        return form


_stamps: dict[tuple[str, str], tuple[jinja2.Template, Stamp]] = {}


def stamp(template: str, macro: str, *, flags: Iterable[str]) -> Stamp:
    """The ``Stamp`` of a template's macro; made again when the template is (when its file changed)."""
    loaded = _env.get_template(template)
    cached = _stamps.get((template, macro))
    if cached is None or cached[0] is not loaded:
        cached = _stamps[(template, macro)] = (loaded, Stamp(getattr(loaded.module, macro), flags))
    return cached[1]


_HTTP_TITLES = {
    404: "Page not found",
    405: "Not allowed here",
    401: "Please sign in",
    503: "Temporarily unavailable",
}


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
