"""The board's cards: a stamped card is what the card macro renders; the page's queries are constant."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import product
from typing import Any

import httpx
import pytest

from careteam.plans.pages import CARD_FLAGS, UNKNOWN_NAME, card_view
from careteam.web.templating import Stamp, stamp, templates
from tests.board_world import make_board
from tests.factories import statements
from tests.plans.test_board import add_rows
from tests.plans.test_pages import board_part, cookie, dom

TODAY = date(2026, 5, 12)
NAMES = {7: "Ana O'Neil <RN>", 8: "Bo & Co"}


def a_task(**fields: Any) -> dict[str, Any]:
    """A task as the board reads it (``Board.tasks``)."""
    return {
        "id": 17,
        "plan_id": 3,
        "title": "UDS due",
        "description": "",
        "discipline": "nurse",
        "assignee_id": None,
        "status": "requested",
        "priority": "routine",
        "due_date": None,
        "position": 1024.0,
        "checklist": [],
        "version": 4,
    } | fields


TITLES = [
    "UDS due",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "\"quotes\" & 'apostrophes' “curly”",
    "100% %s %(title)s %% {0} {title}",
    "émoji 🩺 and \u2028 separators",
    "a NUL \x00 in a value, which no write lets in",
]


def cards() -> list[dict[str, Any]]:
    views = [card_view(None, NAMES, TODAY)]
    for k, (title, status, priority, assignee, due, checklist) in enumerate(
        product(
            TITLES,
            ["requested", "in-progress", "completed", "entered-in-error"],
            ["routine", "stat"],
            [None, 7, 8, 99],
            [None, TODAY - timedelta(days=1), TODAY, date(2031, 1, 2)],
            [[], [{"text": "a", "done": True}], [{"text": "a", "done": False}, {"text": "b", "done": True}]],
        )
    ):
        if k % 5:  # a fifth of the 2,688 combinations, spread over all of them
            continue
        task = a_task(
            id=k + 1,
            title=title,
            status=status,
            priority=priority,
            assignee_id=assignee,
            due_date=due,
            checklist=checklist,
            position=[1024.0, -0.5, 1e-7, 1e12][k % 4],
        )
        view = card_view(task, NAMES, TODAY)
        view["filtered"] = k % 3 == 0
        views.append(view)
    return views


def test_a_stamped_card_is_what_the_card_macro_renders() -> None:
    macro = templates.env.get_template("plans/task_card.html").module.task_card  # type: ignore[attr-defined]
    card_stamp = stamp("plans/task_card.html", "task_card", flags=CARD_FLAGS)
    views = cards()
    assert len(views) > 500
    for view in views:
        assert card_stamp(view) == str(macro(view)), view
    assert card_stamp.many(views[:3]) == "".join(str(macro(v)) for v in views[:3])
    # Every combination of flags that occurs was stamped once, and reused.
    assert stamp("plans/task_card.html", "task_card", flags=CARD_FLAGS) is card_stamp


def test_the_card_shows_what_the_task_says() -> None:
    overdue = card_view(
        a_task(
            assignee_id=99,
            due_date=TODAY - timedelta(days=1),
            priority="asap",
            checklist=[{"text": "a", "done": True}],
        ),
        NAMES,
        TODAY,
    )
    assert overdue["overdue"] and overdue["high_priority"] and overdue["has_assignee"]
    assert overdue["assignee_name"] == UNKNOWN_NAME and overdue["due_label"] == "11 May"
    assert (overdue["checklist_done"], overdue["checklist_total"], overdue["checklist_percent"]) == (
        1,
        1,
        100,
    )
    done = card_view(a_task(status="completed", due_date=date(2025, 1, 2)), NAMES, TODAY)
    assert not done["overdue"] and done["column"] == "done" and done["due_label"] == "2 Jan 2025"
    assert not done["has_assignee"] and done["assignee_id"] == "" and done["status_label"] == "Completed"


def test_a_stamp_refuses_a_macro_that_branches_on_a_field() -> None:
    env = templates.env
    branching = env.from_string(
        "{% macro m(x) %}{% if x.title %}<b>{{ x.title }}</b>{% endif %}{% endmacro %}"
    )
    with pytest.raises(TypeError, match="title"):
        Stamp(branching.module.m, flags=())({"title": ""})  # type: ignore[attr-defined]
    flagged = env.from_string("{% macro m(x) %}{% if x.bold %}<b>{% endif %}{{ x.title }}{% endmacro %}")
    bold = Stamp(flagged.module.m, flags=("bold",))  # type: ignore[attr-defined]
    assert bold({"bold": True, "title": "a<b"}) == "<b>a&lt;b"
    assert bold({"bold": False, "title": "%s"}) == "%s"
    with pytest.raises(TypeError, match="booleans"):
        bold({"bold": "yes", "title": ""})


async def test_the_page_costs_the_same_queries_for_2_or_60_tasks(
    app: Any, client: httpx.AsyncClient, db: Any
) -> None:
    small, big = await make_board(db), await make_board(db)
    await add_rows(db, small.plan_id, 2, assignee_id=small.nurse_id)
    await add_rows(db, big.plan_id, 60, assignee_id=big.nurse_id)
    counts = []
    for w in (small, big):
        headers = await cookie(app, db, w.nurse)
        with statements(app) as sent:
            r = await client.get(f"/plans/{w.plan_id}", headers=headers)
        assert r.status_code == 200
        counts.append(len(sent))
    assert len([a for a in board_part(dom(r.text)).find_all("article") if "card" in a.classes]) == 60
    # The session and the header's unread notifications (2), the board's own reads (plan with goals, tasks,
    # patient with team, audit, the history's events: 5), then its panels', none of which reads the team
    # again (Board.member): the referrals with their total (1), the team thread (its newest page, the team's
    # read positions, her unread and the cards' comment counts in one: 3), outcome measures' sparklines
    # and goals' achievement (the plan's scores: 1) and the cards' block responses (1), the medications
    # panel (the plan's medications: 1; who is awaited on their safety messages only when there are some),
    # and protocols (the ones applied: 1; for the plan's lead or physicians, not this nurse, the active
    # templates to choose from: 1 more).
    assert counts[0] == counts[1] <= 15
