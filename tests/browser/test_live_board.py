"""The live board in a real browser: two clinicians on one plan, each in her own browser context.

What they would notice: a card one of them moves (by mouse or by keyboard) shows up on the other's board
by itself, without a reload; an edit made from a stale version shows both versions and overwrites
nothing; a hostile title stays text; a dropped connection says so, and the board catches up by itself.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.board_world import Board, make_board
from tests.browser.conftest import Clinician, LiveServer, SignedIn

pytestmark = pytest.mark.browser

# How long a live update may take to show before the test gives up: a deadline generous enough for a loaded
# CI machine, not a latency budget (that is the benchmark's business; here the point is that it arrives by
# itself, without a reload).
LIVE_DEADLINE_MS = 15_000


World = Board


async def make_world(db: Any) -> World:
    return await make_board(db)


async def add_task(client: httpx.AsyncClient, headers: dict[str, str], plan_id: int, **fields: Any) -> Any:
    body = {"discipline": "nurse", **fields}
    r = await client.post(f"/api/v1/plans/{plan_id}/tasks", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def get_task(client: httpx.AsyncClient, headers: dict[str, str], task_id: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/tasks/{task_id}", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def open_board(who: Clinician, plan_id: int) -> Page:
    page = who.page
    await page.goto(f"/plans/{plan_id}")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    # Set on this document only: still there later means the board was never reloaded.
    await page.evaluate("window.sameDocument = true")
    return page


def cell(page: Page, lane: str, column: str) -> Any:
    return page.locator(f'#lane-{lane} .cell[data-column="{column}"]')


async def never_reloaded(page: Page) -> None:
    assert await page.evaluate("window.sameDocument === true")


async def test_a_dragged_card_shows_live_and_a_stale_edit_overwrites_nothing(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    api = await login(w.nurse)
    task = await add_task(client, api, w.plan_id, title="UDS due", assignee_id=w.nurse_id, status="ready")
    nurse, physio = await signed_in(w.nurse), await signed_in(w.physio)
    mine, theirs = await open_board(nurse, w.plan_id), await open_board(physio, w.plan_id)
    card = f"#task-{task['id']}"

    # The physio opens the task to edit it: her form is for version 1.
    await theirs.locator(f'{card} [data-action="edit"]').click()
    await expect(theirs.locator("#task-dialog")).to_be_visible()

    # The nurse drags the card from To do to In progress, with the mouse.
    await mine.locator(card).drag_to(cell(mine, "nurse", "in_progress"))
    await expect(cell(theirs, "nurse", "in_progress").locator(card)).to_be_attached(timeout=LIVE_DEADLINE_MS)
    await expect(cell(mine, "nurse", "in_progress").locator(card)).to_have_attribute("data-version", "2")
    await expect(theirs.locator(card)).to_have_attribute("data-version", "2")
    await expect(theirs.locator(f"{card} [data-field=status]")).to_have_text("In progress")
    await expect(theirs.locator("#activity-list li").first).to_contain_text(
        f"{w.nurse_name} moved “UDS due” to In progress"
    )
    await never_reloaded(theirs)

    # The physio, still on version 1, renames it: she is told who changed it and sees both versions.
    await expect(theirs.locator("#task-dialog [data-field=changed-notice]")).to_contain_text(w.nurse_name)
    await theirs.locator("#edit-title").fill("UDS due Friday")
    await theirs.get_by_role("button", name="Save changes").click()
    conflict = theirs.locator("#task-dialog .conflict")
    await expect(conflict).to_be_visible()
    await expect(conflict.locator(".conflict__title")).to_have_text(f"Changed by {w.nurse_name}")
    rows = conflict.locator("tbody tr")
    await expect(rows.filter(has_text="Column")).to_contain_text("In progress")
    await expect(rows.filter(has_text="Title")).to_contain_text("UDS due")
    await expect(rows.filter(has_text="Title").locator("td").nth(1)).to_have_text("UDS due Friday")
    stored = await get_task(client, api, task["id"])
    assert (stored["title"], stored["status"], stored["version"]) == ("UDS due", "in-progress", 2)

    # "Apply mine again" sends her change against the new version: both changes are kept.
    await conflict.get_by_role("button", name="Apply mine again").click()
    await expect(theirs.locator("#task-dialog")).to_be_hidden()
    await expect(mine.locator(f"{card} .card__title")).to_have_text(
        "UDS due Friday", timeout=LIVE_DEADLINE_MS
    )
    stored = await get_task(client, api, task["id"])
    assert (stored["title"], stored["status"], stored["version"]) == ("UDS due Friday", "in-progress", 3)
    await expect(cell(mine, "nurse", "in_progress").locator(card)).to_have_attribute("data-version", "3")
    assert nurse.script_errors == [] and physio.script_errors == []


async def test_keep_theirs_and_an_illegal_move_change_nothing(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    api, lead = await login(w.nurse), await login(w.lead)
    task = await add_task(client, api, w.plan_id, title="Opioid agreement renewal")  # requested
    nurse = await signed_in(w.nurse)
    page = await open_board(nurse, w.plan_id)
    card = f"#task-{task['id']}"

    # Requested cannot become completed: Done is no drop target (the page offers only legal moves), so the
    # card stays in To do and nothing is sent.
    await page.locator(card).drag_to(cell(page, "nurse", "done"))
    await expect(cell(page, "nurse", "todo").locator(card)).to_be_attached()
    await expect(page.locator(card)).to_have_attribute("data-version", "1")
    await expect(page.locator(f"{card} [data-part=notice]")).to_have_count(0)
    assert (await get_task(client, api, task["id"]))["status"] == "requested"

    # The lead makes it STAT while the nurse has it open; the nurse keeps the lead's version.
    await page.locator(f'{card} [data-action="edit"]').click()
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"priority": "stat"}, headers={**lead, "If-Match": 'W/"1"'}
    )
    assert r.status_code == 200, r.text
    await expect(page.locator(f"{card} [data-field=priority]")).to_have_text("STAT", timeout=LIVE_DEADLINE_MS)
    await page.locator("#edit-due").fill("2030-01-15")
    await page.locator("#edit-priority").select_option("routine")
    await page.get_by_role("button", name="Save changes").click()
    conflict = page.locator("#task-dialog .conflict")
    await expect(conflict.locator(".conflict__title")).to_have_text(f"Changed by {w.lead_name}")
    await expect(conflict.locator("tbody tr").filter(has_text="Priority")).to_contain_text("STAT")
    await conflict.get_by_role("button", name="Keep theirs").click()
    await expect(page.locator("#task-dialog")).to_be_hidden()
    stored = await get_task(client, api, task["id"])
    assert (stored["priority"], stored["due_date"], stored["version"]) == ("stat", None, 2)
    await expect(page.locator(card)).to_have_class(re.compile(r"\bis-high-priority\b"))
    assert nurse.script_errors == []


async def test_the_keyboard_moves_cards_and_says_so(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    api = await login(w.nurse)
    first = await add_task(client, api, w.plan_id, title="PDMP check")
    second = await add_task(client, api, w.plan_id, title="UDS due")
    third = await add_task(client, api, w.plan_id, title="Education: flare-up plan")
    nurse, physio = await signed_in(w.nurse), await signed_in(w.physio)
    page, watcher = await open_board(nurse, w.plan_id), await open_board(physio, w.plan_id)
    keyboard = page.keyboard

    # Move "UDS due" to In progress: focus its Move button, Enter opens the menu on the first move offered.
    # The page has one menu: it opens inside this card, named for it, offering only the moves she may make
    # (not its own column, nor Done or On hold: a requested task cannot go there).
    toggle = page.locator(f'#task-{second["id"]} [data-action="move-menu"]')
    await toggle.focus()
    await keyboard.press("Enter")
    await expect(page.locator(f'#task-{second["id"]} [data-move-to="in_progress"]')).to_be_focused()
    await expect(page.locator("[data-move-to]")).to_have_count(5)
    menu = page.locator(f"#task-{second['id']} #move-menu")
    await expect(menu).to_have_attribute("aria-label", "Move “UDS due”")
    for column in ("todo", "on_hold", "done"):
        await expect(menu.locator(f'[data-move-to="{column}"]')).to_be_hidden()
    await expect(menu.locator('[data-move-to="closed"]')).to_be_visible()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await keyboard.press("Enter")
    await expect(page.locator("#board-announcer")).to_have_text("“UDS due” moved to In progress.")
    await expect(toggle).to_be_focused()
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(page.locator("#move-menu")).to_be_hidden()
    await expect(cell(watcher, "nurse", "in_progress").locator(f"#task-{second['id']}")).to_be_attached(
        timeout=LIVE_DEADLINE_MS
    )

    # Move "PDMP check" down, below the flare-up education: Tab to "Move down" in its menu.
    await page.locator(f'#task-{first["id"]} [data-action="move-menu"]').focus()
    await keyboard.press("Enter")
    # In progress -> Closed -> the IPM lead's lane -> Physical therapy's lane -> Move up -> Move down
    for _ in range(5):
        await keyboard.press("Tab")
    await expect(page.locator(f'#task-{first["id"]} [data-move="down"]')).to_be_focused()
    await keyboard.press("Enter")
    await expect(page.locator("#board-announcer")).to_have_text("“PDMP check” moved down: 2 of 2 in To do.")
    order = [f"task-{third['id']}", f"task-{first['id']}"]
    for board in (page, watcher):
        # Waited for, not read once: the watcher's column has two cards before the move arrives as after.
        cards = cell(board, "nurse", "todo").locator(".card")
        await expect(cards).to_have_count(2)
        for at, card_id in enumerate(order):
            await expect(cards.nth(at)).to_have_id(card_id, timeout=LIVE_DEADLINE_MS)
    stored = await get_task(client, api, first["id"])
    assert stored["position"] > third["position"] and stored["status"] == "requested"

    # Escape closes the menu and gives focus back to its button.
    await page.locator(f'#task-{third["id"]} [data-action="move-menu"]').focus()
    await keyboard.press("Enter")
    await expect(page.locator(f'#task-{third["id"]} [data-part="move-menu"]')).to_be_visible()
    await keyboard.press("Escape")
    await expect(page.locator(f'#task-{third["id"]} [data-part="move-menu"]')).to_be_hidden()
    await expect(page.locator(f'#task-{third["id"]} [data-action="move-menu"]')).to_be_focused()
    await never_reloaded(watcher)
    assert nurse.script_errors == [] and physio.script_errors == []


async def test_a_card_that_arrives_live_moves_by_keyboard_too(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    api = await login(w.nurse)
    loaded = await add_task(client, api, w.plan_id, title="PDMP check", status="in-progress")
    physio = await signed_in(w.physio)
    page = await open_board(physio, w.plan_id)
    live = await add_task(client, api, w.plan_id, title="Sleep diary review")
    card = page.locator(f"#task-{live['id']}")
    await expect(cell(page, "nurse", "todo").locator(card)).to_be_attached(timeout=LIVE_DEADLINE_MS)

    # Its Move button opens the shared menu in the live card, without To do (its column).
    await card.locator('[data-action="move-menu"]').click()
    await expect(card.locator('[data-move-to="todo"]')).to_be_hidden()
    await expect(card.locator('[data-move-to="in_progress"]')).to_be_focused()
    # Opening it on another card moves it there: the live card's menu closes. The physio may put the
    # nurse's task in progress on hold, but not complete or close it: the menu says why.
    other = page.locator(f"#task-{loaded['id']}")
    await other.locator('[data-action="move-menu"]').click()
    await expect(card.locator("#move-menu")).to_have_count(0)
    await expect(other.locator('[data-move-to="in_progress"]')).to_be_hidden()
    await expect(other.locator('[data-move-to="done"]')).to_be_hidden()
    await expect(other.locator('[data-move-to="on_hold"]')).to_be_focused()
    await expect(other.locator("[data-field=move-why]")).to_contain_text("Done: Only the assignee,")
    await expect(card.locator('[data-action="move-menu"]')).to_have_attribute("aria-expanded", "false")
    await page.keyboard.press("Escape")
    await expect(other.locator('[data-action="move-menu"]')).to_be_focused()

    await card.locator('[data-action="move-menu"]').click()
    await card.locator('[data-move-to="in_progress"]').click()
    await expect(page.locator("#board-announcer")).to_have_text("“Sleep diary review” moved to In progress.")
    await expect(cell(page, "nurse", "in_progress").locator(card)).to_be_attached()
    assert (await get_task(client, api, live["id"]))["status"] == "in-progress"
    await never_reloaded(page)
    assert physio.script_errors == []


async def test_a_hostile_title_arrives_as_text(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    api = await login(w.nurse)
    physio = await signed_in(w.physio)
    page = await open_board(physio, w.plan_id)
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))

    hostile = ["<script>alert(1)</script>", '<img src=x onerror="alert(2)">']
    created = [await add_task(client, api, w.plan_id, title=title, description=title) for title in hostile]
    for task, title in zip(created, hostile, strict=True):
        title_el = page.locator(f"#task-{task['id']} .card__title")
        await expect(title_el).to_have_text(title, timeout=LIVE_DEADLINE_MS)
        assert await title_el.evaluate("el => el.children.length") == 0
    await expect(page.locator("#activity-list li").first).to_contain_text(f"added “{hostile[1]}” to Nursing")
    markup = "#board-page img, #board-page script:not([src]):not([type='application/json'])"
    assert await page.locator(markup).count() == 0

    # And in the edit dialog, where the text goes into form fields.
    await page.locator(f"#task-{created[1]['id']} [data-action=edit]").click()
    await expect(page.locator("#edit-title")).to_have_value(hostile[1])
    await expect(page.locator("#edit-description")).to_have_value(hostile[1])
    assert dialogs == [] and physio.script_errors == []
    await never_reloaded(page)


async def test_a_dropped_connection_shows_and_the_board_catches_up(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any, live_server: LiveServer
) -> None:
    w = await make_world(db)
    api = await login(w.nurse)
    task = await add_task(client, api, w.plan_id, title="Follow-up call after block", status="ready")
    physio = await signed_in(w.physio)
    page = await open_board(physio, w.plan_id)
    banner = page.locator("#connection-banner")
    await expect(banner).to_be_hidden()

    await live_server.stop()  # every socket drops, as in a restart or a network cut
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("Reconnecting…")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "reconnecting")

    # Meanwhile the team carries on (the API is served in-process; only the browser's server is down).
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"status": "in-progress"}, headers={**api, "If-Match": 'W/"1"'}
    )
    assert r.status_code == 200, r.text
    added = await add_task(client, api, w.plan_id, title="PDMP check", priority="urgent")
    board = (await client.get(f"/api/v1/plans/{w.plan_id}", headers=api)).json()

    await live_server.start()
    await expect(banner).to_be_hidden(timeout=15_000)
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(cell(page, "nurse", "in_progress").locator(f"#task-{task['id']}")).to_be_attached()
    await expect(cell(page, "nurse", "todo").locator(f"#task-{added['id']}")).to_contain_text("PDMP check")
    await expect(page.locator("#board-page")).to_have_attribute("data-last-seq", str(board["last_seq"]))
    await expect(page.locator("#board-announcer")).to_have_text("Back online. The board is up to date.")
    await never_reloaded(page)
    assert physio.script_errors == []


async def test_adding_a_task_and_filtering_the_board(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    api = await login(w.nurse)
    await add_task(client, api, w.plan_id, title="UDS due", assignee_id=w.nurse_id, due_date="2020-01-01")
    await add_task(client, api, w.plan_id, title="Sleep diary review", discipline="psychologist")
    nurse, physio = await signed_in(w.nurse), await signed_in(w.physio)
    page, watcher = await open_board(nurse, w.plan_id), await open_board(physio, w.plan_id)

    # "+ Add task" on the Physical therapy lane opens the form with that lane chosen.
    await page.locator('#lane-physical_therapist [data-action="add-task"]').click()
    dialog = page.locator("#add-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#add-discipline")).to_have_value("physical_therapist")
    await page.locator("#add-title").fill("Graded walking plan")
    await page.locator("#add-assignee").select_option(label=f"{w.nurse_name} — Nursing")
    await page.locator("#add-priority").select_option("asap")
    await page.locator("#add-due").fill("2031-03-02")
    await dialog.get_by_role("button", name="Add to the board").click()
    await expect(dialog).to_be_hidden()
    for board in (page, watcher):
        card = cell(board, "physical_therapist", "todo").locator(".card", has_text="Graded walking plan")
        await expect(card).to_contain_text(w.nurse_name, timeout=LIVE_DEADLINE_MS)
        await expect(card).to_contain_text("2 Mar 2031")
        await expect(card.locator("[data-field=priority]")).to_have_text("ASAP")
    tasks = (await client.get(f"/api/v1/plans/{w.plan_id}/tasks", headers=api)).json()["items"]
    assert [t["title"] for t in tasks].count("Graded walking plan") == 1

    # An empty title is refused in the form, and nothing is sent.
    await page.get_by_role("button", name="+ Add a task").click()
    await dialog.get_by_role("button", name="Add to the board").click()
    await expect(dialog.locator('[data-error-for="title"]')).to_have_text("Enter a title.")
    await dialog.get_by_role("button", name="Cancel").click()

    # Filters: mine, overdue, one lane; the address keeps them, so a reload shows the same board.
    await page.get_by_label("My tasks").check()
    await expect(page.locator(".card", has_text="Sleep diary review")).to_be_hidden()
    await expect(page.locator(".card", has_text="Graded walking plan")).to_be_visible()
    await page.get_by_label("Overdue").check()
    await expect(page.locator(".card", has_text="Graded walking plan")).to_be_hidden()
    await expect(page.locator(".card", has_text="UDS due")).to_be_visible()
    await expect(page.locator("#filter-summary")).to_have_text("Showing 1 of 3 tasks.")
    await page.locator("#board-filters").get_by_label("Lane").select_option("psychologist")
    await expect(page.locator("#lane-nurse")).to_be_hidden()
    assert page.url.endswith("?mine=1&overdue=1&discipline=psychologist")
    await page.reload()
    await expect(page.get_by_label("My tasks")).to_be_checked()
    await expect(page.locator("#lane-nurse")).to_be_hidden()
    await expect(page.locator("#lane-psychologist")).to_be_visible()
    assert nurse.script_errors == [] and physio.script_errors == []
