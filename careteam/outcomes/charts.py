"""Trends drawn on the server as SVG (no chart library in the browser): a sparkline per measure for the
board's header and a larger chart per measure for the plan's outcomes page, with the goals judged by that
measure as dashed target lines and the plan's procedures as marked dates.

Each drawing names itself for a screen reader (what is measured, how many scores, first, latest, lowest,
highest; its goals' targets and its procedures' dates) and the page beside it has the same scores, goals
and procedures as tables. Only ``final`` scores are drawn: a score entered in error is kept in the table,
struck through, never on the line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from careteam.outcomes.codes import MEASURES, Measure, MeasureDef


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class TargetLine:
    """A goal's target on the measure's scale: ``label`` says it ("Goal: PEG ≤ 4 by 15 Feb 2027")."""

    value: float
    label: str


@dataclass(frozen=True, slots=True)
class Mark:
    """A procedure's date on the time axis: ``label`` says what it was and how it went."""

    at: datetime
    label: str


def day(at: datetime) -> str:
    """ "2 Dec 2026", as the pages write a date."""
    return f"{at.day} {at:%b %Y}"


def score(spec: MeasureDef, value: float) -> str:
    """A score as a clinician writes it: "5", "6.33", "46%"."""
    return f"{value:g}{spec.unit}"


def summary(measure: Measure, points: Sequence[Point]) -> str:
    """What a drawing shows, in words (its accessible name)."""
    spec = MEASURES[measure]
    if not points:
        return f"{spec.title}: no scores yet"
    latest = points[-1]
    band = spec.band(latest.value)
    latest_words = f"latest {score(spec, latest.value)}" + (f" ({band})" if band else "")
    if len(points) == 1:
        return f"{spec.title}: one score, {latest_words}, on {day(latest.at)}"
    values = [p.value for p in points]
    return (
        f"{spec.title}: {len(points)} scores from {day(points[0].at)} to {day(latest.at)}; first "
        f"{score(spec, points[0].value)}, {latest_words}; lowest {score(spec, min(values))}, highest "
        f"{score(spec, max(values))}"
    )


def _x(points: Sequence[Point], left: float, width: float) -> list[float]:
    return _xs([p.at for p in points], [p.at for p in points], left, width)


def _xs(times: Sequence[datetime], span_of: Sequence[datetime], left: float, width: float) -> list[float]:
    """Where ``times`` fall on an axis from the earliest to the latest of ``span_of``."""
    stamps = [t.timestamp() for t in span_of]
    if not stamps or min(stamps) == max(stamps):
        return [left + width / 2 for _ in times]
    start, end = min(stamps), max(stamps)
    return [left + (t.timestamp() - start) / (end - start) * width for t in times]


def _y(spec: MeasureDef, value: float, top: float, height: float) -> float:
    return top + (spec.high - value) / (spec.high - spec.low) * height


def _ticks(spec: MeasureDef) -> list[int]:
    step = next(s for s in (2, 5, 10, 20, 25) if (spec.high - spec.low) / s <= 6)
    return list(range(spec.low, spec.high + 1, step))


def sparkline(measure: Measure, points: Sequence[Point], *, width: int = 96, height: int = 24) -> str:
    """A small line of the scores over time, the latest as a dot; lower is better for every measure here."""
    spec = MEASURES[measure]
    label = escape(summary(measure, points))
    pad = 3.0
    xs = _x(points, pad, width - 2 * pad)
    ys = [_y(spec, p.value, pad, height - 2 * pad) for p in points]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    parts = [
        f'<svg class="spark" role="img" aria-label="{label}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" focusable="false">'
    ]
    if len(points) > 1:
        parts.append(f'<polyline class="spark__line" points="{line}"/>')
    if points:
        parts.append(f'<circle class="spark__last" cx="{xs[-1]:.1f}" cy="{ys[-1]:.1f}" r="2.5"/>')
    parts.append("</svg>")
    return "".join(parts)


def described(
    measure: Measure, points: Sequence[Point], targets: Sequence[TargetLine], marks: Sequence[Mark]
) -> str:
    """The chart's description: its scores in words, then its goals' targets and its procedures."""
    words = [summary(measure, points)]
    words += [t.label for t in targets]
    words += [f"Procedure on {day(m.at)}: {m.label}" for m in marks]
    return ". ".join(words)


def chart(
    measure: Measure,
    points: Sequence[Point],
    *,
    ident: str,
    targets: Sequence[TargetLine] = (),
    marks: Sequence[Mark] = (),
    width: int = 640,
    height: int = 220,
) -> str:
    """The scores over time on the measure's whole range, each score a dot with its own tooltip; each
    goal's target a dashed line across, each procedure a dashed line up at its date (the axis reaches
    them). ``ident`` makes the title's and description's ids unique on the page."""
    spec = MEASURES[measure]
    left, right, top, bottom = 40.0, 16.0, 12.0, 30.0
    plot_w, plot_h = width - left - right, height - top - bottom
    title_id, desc_id = f"{ident}-title", f"{ident}-desc"
    parts = [
        f'<svg class="trend" role="img" aria-labelledby="{title_id} {desc_id}" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet" focusable="false">',
        f'<title id="{title_id}">{escape(spec.title)}</title>',
        f'<desc id="{desc_id}">{escape(described(measure, points, targets, marks))}</desc>',
    ]
    for tick in _ticks(spec):
        y = _y(spec, tick, top, plot_h)
        parts.append(
            f'<line class="trend__grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="trend__tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{tick}{spec.unit}</text>"
        )
    for target in targets:
        y = _y(spec, min(max(target.value, spec.low), spec.high), top, plot_h)
        parts.append(
            f'<line class="trend__target" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}">'
            f"<title>{escape(target.label)}</title></line>"
        )
    axis = [p.at for p in points] + [m.at for m in marks]
    if points and marks:
        for x, mark in zip(_xs([m.at for m in marks], axis, left, plot_w), marks, strict=True):
            tip = escape(f"Procedure on {day(mark.at)}: {mark.label}")
            parts.append(
                f'<g class="trend__procedure"><title>{tip}</title>'
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}"/>'
                f'<path d="M{x - 5:.1f},{top} L{x + 5:.1f},{top} L{x:.1f},{top + 8} Z"/></g>'
            )
    if points:
        xs = _xs([p.at for p in points], axis, left, plot_w)
        ys = [_y(spec, p.value, top, plot_h) for p in points]
        if len(points) > 1:
            line = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
            parts.append(f'<polyline class="trend__line" points="{line}"/>')
        for x, y, p in zip(xs, ys, points, strict=True):
            band = spec.band(p.value)
            tip = (
                f"{spec.display} {score(spec, p.value)}" + (f" ({band})" if band else "") + f" on {day(p.at)}"
            )
            parts.append(
                f'<circle class="trend__dot" cx="{x:.1f}" cy="{y:.1f}" r="4">'
                f"<title>{escape(tip)}</title></circle>"
            )
        base = height - bottom + 18
        first, last = day(min(axis)), day(max(axis))
        if first == last:
            parts.append(
                f'<text class="trend__tick" x="{xs[0]:.1f}" y="{base}" text-anchor="middle">{first}</text>'
            )
        else:
            parts.append(
                f'<text class="trend__tick" x="{left}" y="{base}" text-anchor="start">{first}</text>'
            )
            parts.append(
                f'<text class="trend__tick" x="{width - right}" y="{base}" text-anchor="end">{last}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
