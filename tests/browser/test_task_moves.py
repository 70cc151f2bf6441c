"""Who may move a task, in the browser: the Move menu and the drop targets offer only what the rules the page
ships allow this user (the whole table walked through task-rules.js against plans.rules and the server);
Closed asks for a reason and a confirmation; Undo within the window restores the card for every viewer;
Reopen makes a linked follow-up; a refusal shows beside its card; a move that could not reach the server
stays on its card as pending and is sent again when the connection is back (docs/board.md)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from playwright.async_api import Page, expect
from sqlmodel import col

from careteam.core.vocab import Discipline
from careteam.patients.codes import TeamRole
from careteam.patients.tables import CareTeamMember
from careteam.plans.codes import COLUMN_DEFAULT_STATUS, COLUMN_OF, TaskStatus
from careteam.settings import Settings
from tests.board_world import make_board
from tests.browser.axe import serious_axe_findings
from tests.browser.conftest import LiveServer, SignedIn
from tests.browser.test_live_board import (
    LIVE_DEADLINE_MS,
    add_task,
    cell,
    get_task,
    never_reloaded,
    open_board,
)
from tests.factories import make_patient, make_plan, make_user
from tests.plans.test_task_rules import make_team, offered

pytestmark = pytest.mark.browser

# Long enough that Undo is never late on a loaded machine; the window's end is tested on the app's clock
# (tests/plans/test_task_rules.py).
UNDO_SECONDS = 60


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"task_undo_seconds": UNDO_SECONDS})


async def move(client: httpx.AsyncClient, h: dict[str, str], task: dict[str, Any], **body: Any) -> Any:
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}", json=body, headers={**h, "If-Match": f'W/"{task["version"]}"'}
    )
    assert r.status_code == 200, r.text
    return r.json()


async def open_menu(page: Page, task_id: int) -> Any:
    card = page.locator(f"#task-{task_id}")
    await card.locator('[data-action="move-menu"]').click()
    menu = card.locator("[data-part=move-menu]")
    await expect(menu).to_be_visible()
    return menu


async def test_every_move_the_menu_offers_is_the_servers(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    """The issue's "a test walks the whole table", in the browser: task-rules.js (what the Move menu and the
    drop targets offer) reads the page's shipped rules exactly as tests/plans/test_task_rules.py's
    ``offered`` does, which that test walks against the server for every status, target and role; so every
    move offered succeeds there and no legal move is missing. Each column option of the menu is the move
    into that column's status."""
    team = await make_team(db)
    who = await signed_in(team.usernames["nurse"])
    page = await open_board(who, team.plan_id)
    state = json.loads(await page.locator("#board-state").text_content() or "{}")
    rules, members = state["rules"], state["members"]
    cases = []
    for status in TaskStatus:
        for discipline in ("physician", "nurse", "physical_therapist"):
            for role, me in team.ids.items():
                task = {
                    "id": 1,
                    "status": status.value,
                    "discipline": discipline,
                    "assignee_id": team.ids["other_nurse"] if role != "physio" else me,
                    "author_id": team.ids["physio"] if role != "lead" else me,
                }
                cases.append({"task": task, "me": me})
    walked = await page.evaluate(
        """async ({cases, rules, members, columnOf, defaults, statuses}) => {
            const r = await import("/static/js/task-rules.js");
            return cases.map(({task, me}) => {
                const v = {members, me};
                return {
                    statuses: statuses.map((to) => r.mayMove(rules, v, task, to)),
                    columns: Object.keys(defaults).map((c) => r.columnMove(rules, v, task, c, columnOf)),
                    lane: r.mayChangeLane(rules, v, task),
                };
            });
        }""",
        {
            "cases": cases,
            "rules": rules,
            "members": members,
            "columnOf": {s.value: c.value for s, c in COLUMN_OF.items()},
            "defaults": {c.value: s.value for c, s in COLUMN_DEFAULT_STATUS.items()},
            "statuses": [s.value for s in TaskStatus],
        },
    )
    assert len(walked) == len(cases) == len(TaskStatus) * 3 * len(team.ids)
    some_offered = some_refused = 0
    for case, answer in zip(cases, walked, strict=True):
        task, me = case["task"], case["me"]
        expected = [s != task["status"] and offered(rules, members, me, task, s) for s in TaskStatus]
        assert answer["statuses"] == expected, case
        columns = [
            s.value
            if COLUMN_OF[TaskStatus(task["status"])] != c and expected[list(TaskStatus).index(s)]
            else None
            for c, s in COLUMN_DEFAULT_STATUS.items()
        ]
        assert answer["columns"] == columns, case
        assert answer["lane"] is True  # anyone on the team changes a task's lane
        some_offered += sum(expected)
        some_refused += len(expected) - sum(expected)
    assert some_offered > 0 and some_refused > 0
    assert who.script_errors == []


async def test_a_cancel_needs_a_reason_and_a_confirmation(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_board(db)
    api = await login(w.nurse)
    task = await add_task(client, api, w.plan_id, title="Opioid agreement renewal", status="ready")
    nurse = await signed_in(w.nurse)
    page = await open_board(nurse, w.plan_id)
    card = page.locator(f"#task-{task['id']}")
    dialog = page.locator("#cancel-dialog")

    # A stray Enter on Closed opens the question; another Enter only types in the reason.
    menu = await open_menu(page, task["id"])
    await menu.locator('[data-move-to="closed"]').focus()
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Close “Opioid agreement renewal”?")
    await expect(page.locator("#cancel-reason")).to_be_focused()
    assert await serious_axe_findings(page) == []
    await page.keyboard.press("Enter")
    # Confirming without a reason: refused in the form, nothing sent, the card stays in To do.
    await dialog.get_by_role("button", name="Close the task").click()
    await expect(dialog.locator('[data-error-for="reason"]')).to_contain_text("Say why the task is closed")
    await expect(dialog).to_be_visible()
    await page.locator("#cancel-reason").fill("   ")
    await dialog.get_by_role("button", name="Close the task").click()
    await expect(dialog).to_be_visible()
    # Keep it open: nothing moves.
    await dialog.get_by_role("button", name="Keep it open").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#board-announcer")).to_have_text("“Opioid agreement renewal” was not closed.")
    await expect(cell(page, "nurse", "todo").locator(card)).to_be_attached()
    stored = await get_task(client, api, task["id"])
    assert (stored["status"], stored["version"]) == ("ready", 1)

    # With a reason and the confirmation, it is closed: the reason is on the record, Undo is offered.
    menu = await open_menu(page, task["id"])
    await menu.locator('[data-move-to="closed"]').click()
    await page.locator("#cancel-reason").fill("Renewed at the GP's.")
    await dialog.get_by_role("button", name="Close the task").click()
    await expect(dialog).to_be_hidden()
    await expect(cell(page, "nurse", "closed").locator(card)).to_have_attribute("data-version", "2")
    await expect(page.locator("#board-announcer")).to_contain_text(
        "“Opioid agreement renewal” moved to Closed."
    )
    await expect(page.locator("#undo-bar")).to_contain_text("You moved “Opioid agreement renewal” to Closed.")
    assert await serious_axe_findings(page) == []
    stored = await get_task(client, api, task["id"])
    assert (stored["status"], stored["status_reason"]) == ("cancelled", "Renewed at the GP's.")

    # Dragged to Closed, the same question: dismissing it moves nothing.
    other = await add_task(client, api, w.plan_id, title="PDMP check", status="ready")
    other_card = page.locator(f"#task-{other['id']}")
    await expect(other_card).to_be_attached(timeout=LIVE_DEADLINE_MS)
    await page.get_by_label("Show closed").check()
    await other_card.drag_to(cell(page, "nurse", "closed"))
    await expect(dialog).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(cell(page, "nurse", "todo").locator(other_card)).to_be_attached()
    assert (await get_task(client, api, other["id"]))["status"] == "ready"
    assert nurse.script_errors == []


async def two_boards(signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any, title: str) -> Any:
    """The nurse's task in progress, on the nurse's board and on the physio's."""
    w = await make_board(db)
    api = await login(w.nurse)
    task = await add_task(client, api, w.plan_id, title=title, status="in-progress")
    nurse, physio = await signed_in(w.nurse), await signed_in(w.physio)
    page, watcher = await open_board(nurse, w.plan_id), await open_board(physio, w.plan_id)
    return w, api, task, (nurse, physio), (page, watcher)


async def test_undo_within_the_window_restores_the_card_for_every_viewer(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w, api, task, (nurse, physio), (page, watcher) = await two_boards(signed_in, client, db, login, "UDS due")
    card = f"#task-{task['id']}"

    menu = await open_menu(page, task["id"])
    await menu.locator('[data-move-to="done"]').click()
    await expect(cell(page, "nurse", "done").locator(card)).to_have_attribute("data-version", "2")
    await expect(cell(watcher, "nurse", "done").locator(card)).to_be_attached(timeout=LIVE_DEADLINE_MS)
    undo = page.locator("#undo-bar").get_by_role("button", name="Undo moving “UDS due” to Done")
    await expect(undo).to_be_visible()
    await expect(page.locator("#board-announcer")).to_contain_text(
        f"You can undo it for {UNDO_SECONDS} seconds."
    )
    # Only whoever made the move may undo it: the physio has no Undo.
    await expect(watcher.locator("#undo-bar")).to_be_hidden()

    await undo.click()
    await expect(page.locator("#board-announcer")).to_have_text("Undone: “UDS due” is back in In progress.")
    await expect(page.locator("#undo-bar")).to_be_hidden()
    for board in (page, watcher):
        await expect(cell(board, "nurse", "in_progress").locator(card)).to_have_attribute(
            "data-version", "3", timeout=LIVE_DEADLINE_MS
        )
        await expect(board.locator("#activity-list li").first).to_contain_text(
            f"{w.nurse_name} undid completing “UDS due”"
        )
    stored = await get_task(client, api, task["id"])
    assert (stored["status"], stored["version"]) == ("in-progress", 3)
    await never_reloaded(watcher)
    assert nurse.script_errors == [] and physio.script_errors == []


async def test_reopen_of_a_completed_task_creates_a_linked_task(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_board(db)
    api = await login(w.nurse)
    task = await add_task(client, api, w.plan_id, title="Graded walk", status="in-progress")
    task = await move(client, api, task, status="completed")
    physio, nurse = await signed_in(w.physio), await signed_in(w.nurse)
    page, watcher = await open_board(physio, w.plan_id), await open_board(nurse, w.plan_id)
    card = page.locator(f"#task-{task['id']}")

    # A finished task moves nowhere: its menu offers Reopen, not a column.
    menu = await open_menu(page, task["id"])
    await expect(menu.locator("[data-move-to]:visible")).to_have_count(0)
    await menu.get_by_role("button", name="Reopen as a follow-up").click()
    follow_up = page.locator('#lane-nurse .cell[data-column="todo"] .card', has_text="Graded walk")
    await expect(follow_up).to_be_visible()
    await expect(follow_up.locator("[data-part=reopened-from]")).to_have_text(
        "Follow-up of “Graded walk” (Done)"
    )
    await expect(card.locator("[data-part=followed-up-by]")).to_have_text(
        "Followed up by “Graded walk” (To do)"
    )
    await expect(page.locator("#board-announcer")).to_contain_text(
        "Reopened “Graded walk” as a follow-up task"
    )
    new_id = int((await follow_up.get_attribute("data-task-id")) or 0)
    await expect(follow_up.locator('[data-action="move-menu"]')).to_be_focused()

    # The other viewer sees the follow-up arrive, linked both ways; the original stays final.
    other = watcher.locator(f"#task-{new_id}")
    await expect(other.locator("[data-part=reopened-from]")).to_contain_text(
        "Follow-up of", timeout=LIVE_DEADLINE_MS
    )
    await expect(watcher.locator(f"#task-{task['id']} [data-part=followed-up-by]")).to_be_visible()
    await expect(watcher.locator("#activity-list li").first).to_contain_text(
        "reopened “Graded walk” as a follow-up"
    )
    stored = await get_task(client, api, new_id)
    assert (stored["reopened_from_id"], stored["status"]) == (task["id"], "ready")
    assert (await get_task(client, api, task["id"]))["status"] == "completed"
    assert physio.script_errors == [] and nurse.script_errors == []


async def physicians_procedure(db: Any, *, nurse_leads: bool = False) -> dict[str, Any]:
    """A physician, a nurse (the team's lead if ``nurse_leads``) and a physio on one patient's team."""
    async with db() as s:
        physician = await make_user(s, discipline=Discipline.physician)
        nurse = await make_user(s, discipline=Discipline.nurse)
        physio = await make_user(s, discipline=Discipline.physical_therapist)
        patient = await make_patient(
            s,
            members=[
                (physician, TeamRole.member if nurse_leads else TeamRole.lead),
                (nurse, TeamRole.lead if nurse_leads else TeamRole.member),
                (physio, TeamRole.member),
            ],
        )
        plan = await make_plan(s, patient)
        return {
            "plan_id": plan.id,
            "patient_id": patient.id,
            "physician": physician.username,
            "physician_id": physician.id,
            "nurse": nurse.username,
            "nurse_id": nurse.id,
            "physio": physio.username,
            "physio_id": physio.id,
        }


COMPLETE_WORDS = (
    "Only the assignee, a clinician of the task's discipline, a physician or the plan's lead "
    "may complete this task."
)


async def in_progress_of(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    t: dict[str, Any],
    owner: str,
    discipline: str,
    title: str,
) -> dict[str, Any]:
    """A task in progress in ``discipline``'s lane, added by and assigned to ``owner``."""
    fields = {"discipline": discipline, "assignee_id": t[f"{owner}_id"], "status": "in-progress"}
    return await add_task(client, headers, t["plan_id"], title=title, **fields)


async def test_the_nurse_cannot_complete_the_physicians_procedure(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    t = await physicians_procedure(db)
    doctor = await login(t["physician"])
    task = await in_progress_of(client, doctor, t, "physician", "physician", "Medial branch block")
    nurse = await signed_in(t["nurse"])
    page = await open_board(nurse, t["plan_id"])
    card = page.locator(f"#task-{task['id']}")

    # The UI offers nothing to complete or close it: only On hold, and the rule's words for the rest.
    menu = await open_menu(page, task["id"])
    await expect(menu.locator("[data-move-to]:visible")).to_have_text(["On hold"])
    why = menu.locator("[data-field=move-why]")
    await expect(why).to_contain_text(f"Done: {COMPLETE_WORDS}")
    await expect(why).to_contain_text("Closed: Only a clinician of the task's discipline")
    assert await serious_axe_findings(page) == []
    await page.keyboard.press("Escape")
    # Nor by dragging: Done is no drop target for her.
    await card.drag_to(cell(page, "physician", "done"))
    await expect(cell(page, "physician", "in_progress").locator(card)).to_have_attribute("data-version", "1")

    # The API answers 403 with the rule's words, and nothing changes.
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"status": "completed"},
        headers={**await login(t["nurse"]), "If-Match": 'W/"1"'},
    )
    assert r.status_code == 403
    assert r.json()["detail"] == COMPLETE_WORDS
    assert (await get_task(client, doctor, task["id"]))["status"] == "in-progress"
    assert nurse.script_errors == []


async def test_a_refused_move_shows_next_to_the_card(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    t = await physicians_procedure(db, nurse_leads=True)
    physio = await login(t["physio"])
    task = await in_progress_of(client, physio, t, "physio", "physical_therapist", "Graded walk")
    nurse = await signed_in(t["nurse"])
    page = await open_board(nurse, t["plan_id"])
    card = page.locator(f"#task-{task['id']}")
    # The team's lead, she may complete it, so the page offers Done. Then, without the page knowing (no
    # event: arranged in the database), she is no longer the lead.
    menu = await open_menu(page, task["id"])
    await expect(menu.locator('[data-move-to="done"]')).to_be_visible()
    async with db() as s:
        await s.exec(
            sa.update(CareTeamMember)
            .where(col(CareTeamMember.user_id) == t["nurse_id"])
            .values(role=TeamRole.member.value)
        )
    await menu.locator('[data-move-to="done"]').click()

    # The server's refusal, in the rule's words, in the card (not at the top of the page), and said; the
    # card is back in In progress.
    words = COMPLETE_WORDS
    notice = card.locator("[data-part=notice]")
    await expect(notice).to_contain_text(words)
    await expect(page.locator("#board-announcer")).to_contain_text(words)
    await expect(page.locator("#board-alert")).to_be_hidden()
    assert await serious_axe_findings(page) == []
    await expect(cell(page, "physical_therapist", "in_progress").locator(card)).to_have_attribute(
        "data-version", "1"
    )
    await notice.get_by_role("button", name="Dismiss").click()
    await expect(notice).to_have_count(0)
    assert (await get_task(client, physio, task["id"]))["status"] == "in-progress"
    assert nurse.script_errors == []


async def test_a_pending_move_survives_a_lost_connection_and_is_retried(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any, live_server: LiveServer
) -> None:
    w = await make_board(db)
    api = await login(w.nurse)
    kept = await add_task(client, api, w.plan_id, title="Follow-up call after block", status="ready")
    dropped = await add_task(client, api, w.plan_id, title="PDMP check", status="ready")
    nurse = await signed_in(w.nurse)
    page = await open_board(nurse, w.plan_id)
    card, other = page.locator(f"#task-{kept['id']}"), page.locator(f"#task-{dropped['id']}")

    await live_server.stop()  # the server is out of reach: the socket drops and no request gets through
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "reconnecting")

    # Both moves stay where she put them, marked as not saved yet, with what will happen.
    for task_id in (kept["id"], dropped["id"]):
        menu = await open_menu(page, task_id)
        await menu.locator('[data-move-to="in_progress"]').click()
    for each in (card, other):
        await expect(cell(page, "nurse", "in_progress").locator(each)).to_have_class(
            re.compile(r"\bis-pending\b")
        )
        await expect(each.locator("[data-part=notice]")).to_contain_text("Not saved yet")
    await expect(page.locator("#board-announcer")).to_contain_text("sent again when the connection is back")
    assert await serious_axe_findings(page) == []

    # She discards one: it goes back to To do.
    await other.get_by_role("button", name="Discard").click()
    await expect(cell(page, "nurse", "todo").locator(other)).to_be_attached()
    await expect(other.locator("[data-part=notice]")).to_have_count(0)
    assert (await get_task(client, api, kept["id"]))["status"] == "ready"

    # The connection is back: the kept move is sent by itself and saved.
    await live_server.start()
    await expect(page.locator("#live-status")).to_have_attribute(
        "data-state", "live", timeout=LIVE_DEADLINE_MS
    )
    await expect(cell(page, "nurse", "in_progress").locator(card)).to_have_attribute(
        "data-version", "2", timeout=LIVE_DEADLINE_MS
    )
    await expect(card.locator("[data-part=notice]")).to_have_count(0)
    await expect(card).not_to_have_class(re.compile(r"\bis-pending\b"))
    assert (await get_task(client, api, kept["id"]))["status"] == "in-progress"
    assert (await get_task(client, api, dropped["id"]))["status"] == "ready"
    await never_reloaded(page)
    assert nurse.script_errors == []


async def test_the_move_menu_moves_a_card_to_another_lane(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    _, api, task, (nurse, physio), (page, watcher) = await two_boards(
        signed_in, client, db, login, "Graded walking plan"
    )
    card = f"#task-{task['id']}"

    # The other lanes on the board, by name; the card's own is not offered.
    menu = await open_menu(page, task["id"])
    lanes = menu.locator("[data-move-lane]")
    await expect(lanes).to_have_text(["IPM lead", "Physical therapy"])
    await menu.get_by_role("button", name="Physical therapy").click()
    await expect(page.locator("#board-announcer")).to_have_text(
        "“Graded walking plan” moved to the Physical therapy lane."
    )
    await expect(page.locator(f'{card} [data-action="move-menu"]')).to_be_focused()
    for board in (page, watcher):
        await expect(cell(board, "physical_therapist", "in_progress").locator(card)).to_have_attribute(
            "data-version", "2", timeout=LIVE_DEADLINE_MS
        )
    stored = await get_task(client, api, task["id"])
    assert (stored["discipline"], stored["status"]) == ("physical_therapist", "in-progress")
    assert nurse.script_errors == [] and physio.script_errors == []
