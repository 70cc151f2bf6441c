"""The board page (careteam/ui/board.py): what a clinician sees on load, and who may see it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any

import httpx

from careteam.accounts import sessions as auth_sessions
from tests.board_world import Board, make_board
from tests.factories import PASSWORD

HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_IMG = "<img src=x onerror=alert(1)>"


# --- A tiny DOM, enough to ask "which cell is this card in" -----------------------------------------

VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def all_text(self) -> str:
        return "".join(self.text) if self.tag == "#text" else "".join(c.all_text() for c in self.children)

    def iter(self) -> Any:
        yield self
        for child in self.children:
            yield from child.iter()

    def find(self, **attrs: str) -> Node | None:
        found = self.find_all(**attrs)
        return found[0] if found else None

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        def matches(n: Node) -> bool:
            return all(n.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())

        return [n for n in self.iter() if (tag is None or n.tag == tag) and matches(n)]

    def ancestor(self, tag: str | None = None, cls: str | None = None) -> Node | None:
        node = self.parent
        while node is not None:
            if (tag is None or node.tag == tag) and (cls is None or cls in node.classes):
                return node
            node = node.parent
        return None

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, parent=self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(Node("#text", {}, parent=self.current, text=[data]))


def dom(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    return builder.root


def board_part(page: Node) -> Node:
    """The page without the <template> copies (those hold the empty card, lane, goal, activity entry)."""
    board = page.find(id="board-page")
    assert board is not None
    for template in board.find_all("template"):
        assert template.parent is not None
        template.parent.children.remove(template)
    return board


def card_place(page: Node, task_id: int) -> tuple[str, str]:
    card = page.find(id=f"task-{task_id}")
    assert card is not None, f"no card task-{task_id}"
    cell = card.ancestor("div", "cell")
    assert cell is not None
    return cell.attrs["data-discipline"], cell.attrs["data-column"]


# --- Arrange ----------------------------------------------------------------------------------------


World = Board


async def make_world(db: Any) -> World:
    return await make_board(
        db, patient_name="Ellen Marsh", plan_title="Chronic low back pain: lumbar facet arthropathy"
    )


async def cookie(app: Any, db: Any, username: str) -> dict[str, str]:
    """A browser's session cookie, as the sign-in page would set it."""
    settings = app.state.settings
    async with db() as s:
        issued = await auth_sessions.login(s, username, PASSWORD, kind="cookie", settings=settings)
    assert issued is not None
    return {"Cookie": f"{settings.session_cookie_name}={issued.secret}"}


async def add_task(client: httpx.AsyncClient, headers: dict[str, str], plan_id: int, **fields: Any) -> Any:
    body = {"discipline": "nurse", **fields}
    r = await client.post(f"/api/v1/plans/{plan_id}/tasks", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def move(client: httpx.AsyncClient, headers: dict[str, str], task: dict[str, Any], **patch: Any) -> Any:
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}", json=patch, headers={**headers, "If-Match": f'W/"{task["version"]}"'}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def board_page(app: Any, client: httpx.AsyncClient, db: Any, username: str, plan_id: int) -> Node:
    r = await client.get(f"/plans/{plan_id}", headers=await cookie(app, db, username))
    assert r.status_code == 200, r.text
    return dom(r.text)


# --- Who may see it ---------------------------------------------------------------------------------


async def test_anonymous_is_sent_to_sign_in_and_back(client: httpx.AsyncClient, db: Any) -> None:
    w = await make_world(db)
    r = await client.get(f"/plans/{w.plan_id}?mine=1")
    assert r.status_code == 303
    assert r.headers["location"] == f"/login?next=/plans/{w.plan_id}%3Fmine%3D1"


async def test_another_teams_plan_is_not_found(app: Any, client: httpx.AsyncClient, db: Any) -> None:
    w = await make_world(db)
    nurse = await cookie(app, db, w.nurse)
    for url in (f"/plans/{w.other_plan_id}", "/plans/999999", "/plans/0", f"/plans/{2**40}", "/plans/abc"):
        r = await client.get(url, headers=nurse)
        assert r.status_code == 404, url
        assert r.headers["content-type"].startswith("text/html")
        assert "Not found" in r.text
        assert "Chronic low back pain" not in r.text


# --- What is on it ----------------------------------------------------------------------------------


async def test_board_shows_lanes_columns_and_cards(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    api = await login(w.nurse)
    today = date.today()
    uds = await add_task(
        client,
        api,
        w.plan_id,
        title="UDS due",
        assignee_id=w.nurse_id,
        due_date=(today - timedelta(days=2)).isoformat(),
        priority="urgent",
        checklist=[
            {"text": "Collect sample", "done": True},
            {"text": "Send to lab"},
            {"text": "Record result"},
        ],
    )
    long_ago = (today - timedelta(days=9)).isoformat()
    pdmp = await add_task(client, api, w.plan_id, title="PDMP check", due_date=long_ago)
    walk = await add_task(client, api, w.plan_id, title="Graded walk", discipline="physical_therapist")
    uds = await move(client, api, uds, status="in-progress")
    pdmp = await move(client, api, await move(client, api, pdmp, status="in-progress"), status="completed")
    cancelled = await move(
        client,
        api,
        await add_task(client, api, w.plan_id, title="Old referral"),
        status="cancelled",
        status_reason="Seen elsewhere.",
    )

    r = await client.get(f"/plans/{w.plan_id}", headers=await cookie(app, db, w.nurse))
    assert r.status_code == 200
    page = board_part(dom(r.text))
    heading = page.find_all("h1")[0].all_text()
    assert heading == "Chronic low back pain: lumbar facet arthropathy"
    assert "Ellen Marsh" in page.all_text()

    # Columns, closed behind its filter; a lane per discipline with tasks or people (lead, nurse, PT).
    heads = [n.all_text().strip() for n in page.find_all("div") if "board__column-head" in n.classes]
    assert [h.rstrip("0123456789") for h in heads] == ["To do", "In progress", "On hold", "Done", "Closed"]
    board = page.find(id="board")
    assert board is not None and "board--show-closed" not in board.classes
    lanes = [n.attrs["data-discipline"] for n in page.find_all("section") if "lane" in n.classes]
    assert lanes == ["ipm_lead", "nurse", "physical_therapist"]

    assert card_place(page, uds["id"]) == ("nurse", "in_progress")
    assert card_place(page, pdmp["id"]) == ("nurse", "done")
    assert card_place(page, walk["id"]) == ("physical_therapist", "todo")
    assert card_place(page, cancelled["id"]) == ("nurse", "closed")

    card = page.find(id=f"task-{uds['id']}")
    assert card is not None
    assert card.attrs["data-version"] == str(uds["version"])
    assert card.attrs["data-status"] == "in-progress"
    assert card.attrs["data-discipline"] == "nurse"
    assert float(card.attrs["data-position"]) == uds["position"]
    assert card.attrs["draggable"] == "true"
    text = " ".join(card.all_text().split())
    assert "UDS due" in text and w.nurse_name in text and "1/3" in text
    # Open and past its due date: overdue; urgent stands out.
    assert {"is-overdue", "is-high-priority"} <= card.classes
    assert "Overdue" in text and "Urgent" in text
    # Done is not overdue, however old its due date; routine shows no priority badge.
    done = page.find(id=f"task-{pdmp['id']}")
    assert done is not None and "is-overdue" not in done.classes and "is-high-priority" not in done.classes
    walk_card = page.find(id=f"task-{walk['id']}")
    assert walk_card is not None and "Unassigned" in walk_card.all_text()
    # The keyboard alternative: every card's Move button opens the page's one Move menu (board.js puts it
    # in the card): one option per column, each hidden until board.js offers it to this user (the rules the
    # page ships), Reopen, up/down; no card carries a copy of it.
    cards = page.find_all("article")
    assert len(cards) == 4  # UDS, PDMP, walk, the old referral
    for each in cards:
        (toggle,) = [b for b in each.find_all("button") if b.attrs.get("data-action") == "move-menu"]
        assert toggle.attrs["aria-controls"] == "move-menu" and toggle.attrs["aria-expanded"] == "false"
        assert " ".join(toggle.all_text().split()).startswith("Move ")
        assert not [b for b in each.find_all("button") if "data-move-to" in b.attrs or "data-move" in b.attrs]
    (menu,) = page.find_all(id="move-menu")
    assert menu.attrs["role"] == "group" and "hidden" in menu.attrs and menu.ancestor("section") is board
    assert [b.all_text() for b in menu.find_all("button") if "data-move-to" in b.attrs] == [
        "To do",
        "In progress",
        "On hold",
        "Done",
        "Closed",
    ]
    assert all("hidden" in b.attrs for b in menu.find_all("button") if "data-move-to" in b.attrs)
    assert [b.attrs["data-move"] for b in menu.find_all("button") if "data-move" in b.attrs] == [
        "reopen",
        "up",
        "down",
        "close",
    ]


async def test_cards_are_in_position_order_within_a_cell(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    api = await login(w.nurse)
    first = await add_task(client, api, w.plan_id, title="First")
    second = await add_task(client, api, w.plan_id, title="Second")
    third = await add_task(client, api, w.plan_id, title="Third")
    await move(client, api, third, position=(first["position"] + second["position"]) / 2)
    page = board_part(await board_page(app, client, db, w.nurse, w.plan_id))
    cell = page.find(id=f"task-{first['id']}")
    assert cell is not None and cell.parent is not None
    order = [n.attrs["id"] for n in cell.parent.children if n.tag == "article"]
    assert order == [f"task-{first['id']}", f"task-{third['id']}", f"task-{second['id']}"]


async def test_hostile_titles_are_text(app: Any, client: httpx.AsyncClient, db: Any, login: Any) -> None:
    w = await make_world(db)
    api = await login(w.nurse)
    a = await add_task(client, api, w.plan_id, title=HOSTILE_SCRIPT, description=HOSTILE_IMG)
    b = await add_task(client, api, w.plan_id, title=HOSTILE_IMG)
    r = await client.get(f"/plans/{w.plan_id}", headers=await cookie(app, db, w.nurse))
    assert r.status_code == 200
    assert HOSTILE_SCRIPT not in r.text and HOSTILE_IMG not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    page = dom(r.text)
    for task, title in ((a, HOSTILE_SCRIPT), (b, HOSTILE_IMG)):
        card = page.find(id=f"task-{task['id']}")
        assert card is not None
        assert [n.all_text() for n in card.find_all("h4")] == [title]
    assert not page.find_all("img")
    # The only scripts: the board's module file and the board as JSON data (inert; < is escaped in it).
    scripts = page.find_all("script")
    assert {(s.attrs.get("type"), s.attrs.get("src")) for s in scripts} >= {
        ("module", "/static/js/board.js"),
        ("application/json", None),
    }
    assert all(s.attrs.get("src") or s.attrs.get("type") == "application/json" for s in scripts)
    data = page.find(id="board-state")
    assert data is not None
    state = json.loads(data.all_text())
    assert {t["title"] for t in state["tasks"]} == {HOSTILE_SCRIPT, HOSTILE_IMG}
    assert "style=" not in r.text  # the CSP allows no inline styles


async def test_the_card_template_is_the_same_partial(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    api = await login(w.nurse)
    task = await add_task(client, api, w.plan_id, title="Follow-up call after block")
    page = dom((await client.get(f"/plans/{w.plan_id}", headers=await cookie(app, db, w.nurse))).text)
    template = page.find(id="task-card-template")
    assert template is not None
    empty = template.find_all("article")
    assert len(empty) == 1 and "id" not in empty[0].attrs
    card = page.find(id=f"task-{task['id']}")
    assert card is not None

    def shape(node: Node, parts: set[str]) -> list[tuple[str, str]]:
        """The elements, by data-field or data-part, leaving out the parts not in ``parts``."""
        if node.attrs.get("data-part", "") not in parts | {""}:
            return []
        here = [(node.tag, node.attrs.get("data-field") or node.attrs.get("data-part") or "")]
        return here + [e for child in node.children if child.tag != "#text" for e in shape(child, parts)]

    def parts_of(node: Node) -> set[str]:
        return {n.attrs["data-part"] for n in node.iter() if "data-part" in n.attrs}

    # A card carries the parts it shows (here: unassigned, no due date, no checklist), in the empty card's
    # order and shape; the empty card carries them all, hidden (board.js adds a part a card comes to need).
    assert parts_of(card) == {"unassigned"}
    assert not any("hidden" in n.attrs for n in card.iter() if "data-part" in n.attrs)
    assert all(
        "hidden" in n.attrs for n in empty[0].iter() if n.attrs.get("data-part", "unassigned") != "unassigned"
    )
    assert shape(empty[0], parts_of(card)) == shape(card, parts_of(card))


async def test_goals_history_and_team_are_on_the_page(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    lead = await login(w.lead)
    r = await client.post(
        f"/api/v1/plans/{w.plan_id}/goals",
        headers=lead,
        json={"description": "PEG from 7 to 4 or less in 12 weeks", "target": "PEG <= 4"},
    )
    assert r.status_code == 201, r.text
    task = await add_task(client, lead, w.plan_id, title="UDS due")
    task = await move(client, lead, task, status="in-progress")
    task = await move(client, lead, task, assignee_id=w.nurse_id)
    await move(client, lead, task, title="UDS due Friday", priority="asap")

    page = board_part(await board_page(app, client, db, w.nurse, w.plan_id))
    goal_list = page.find(id="goal-list")
    assert goal_list is not None and "PEG from 7 to 4 or less in 12 weeks" in goal_list.all_text()
    activity = page.find(id="activity-list")
    assert activity is not None
    entries = [" ".join(li.all_text().split()) for li in activity.find_all("li")]
    n, lead_name = w.nurse_name, w.lead_name
    assert [e.split(" UTC ", 1)[1] for e in entries] == [
        f"{lead_name} changed “UDS due Friday”: title, priority",
        f"{lead_name} assigned “UDS due” to {n}",
        f"{lead_name} moved “UDS due” to In progress",
        f"{lead_name} added “UDS due” to Nursing",
        f"{lead_name} added the goal “PEG from 7 to 4 or less in 12 weeks”",
    ]
    times = [t.attrs["datetime"] for t in activity.find_all("time")]
    assert times == sorted(times, reverse=True)
    # The create form offers the care team as assignees (filled by the script from the board state).
    data = (await board_page(app, client, db, w.nurse, w.plan_id)).find(id="board-state")
    assert data is not None
    state = json.loads(data.all_text())
    assert {m["display_name"] for m in state["members"]} >= {n, lead_name}
    assert state["last_seq"] == 5 and state["me"] == w.nurse_id


async def test_filters_from_the_address_are_applied(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    api = await login(w.nurse)
    mine = await add_task(client, api, w.plan_id, title="Opioid agreement renewal", assignee_id=w.nurse_id)
    theirs = await add_task(client, api, w.plan_id, title="Sleep diary review")
    nurse = await cookie(app, db, w.nurse)

    page = board_part(
        dom((await client.get(f"/plans/{w.plan_id}?mine=1&closed=1&discipline=nurse", headers=nurse)).text)
    )
    kept, dropped = page.find(id=f"task-{mine['id']}"), page.find(id=f"task-{theirs['id']}")
    assert kept is not None and dropped is not None
    assert "is-filtered" not in kept.classes and "is-filtered" in dropped.classes
    board = page.find(id="board")
    assert board is not None and "board--show-closed" in board.classes
    sections = [n for n in page.find_all("section") if "lane" in n.classes]
    lanes = {n.attrs["data-discipline"]: "hidden" in n.attrs for n in sections}
    assert lanes == {"ipm_lead": True, "nurse": False, "physical_therapist": True}
    form = page.find(id="board-filters")
    assert form is not None
    checked = {i.attrs["name"] for i in form.find_all("input") if "checked" in i.attrs}
    assert checked == {"mine", "closed"}

    # Nonsense in the address is ignored, not an error.
    r = await client.get(f"/plans/{w.plan_id}?discipline=surgeon&mine=maybe", headers=nurse)
    assert r.status_code == 200
    assert not re.search(r'class="card[^"]*is-filtered', r.text)
