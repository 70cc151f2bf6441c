"""The board by keyboard alone, in a real browser: one Tab stop per lane, arrow keys between cards and lanes,
a number to jump to a lane, and from page load to a card moved in the OT lane in under 10 key presses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from careteam.core.vocab import Discipline
from careteam.patients.codes import TeamRole
from tests.browser.conftest import SignedIn
from tests.factories import make_patient, make_plan, make_user

pytestmark = pytest.mark.browser


@dataclass
class Team:
    lead: str
    ot: str
    plan_id: int


async def make_team(db: Any) -> Team:
    async with db() as s:
        lead = await make_user(s, discipline=Discipline.ipm_lead)
        nurse = await make_user(s, discipline=Discipline.nurse)
        ot = await make_user(s, discipline=Discipline.occupational_therapist)
        patient = await make_patient(
            s, members=[(lead, TeamRole.lead), (nurse, TeamRole.member), (ot, TeamRole.member)]
        )
        plan = await make_plan(s, patient)
        return Team(lead.username, ot.username, plan.id or 0)


async def add_task(client: httpx.AsyncClient, headers: dict[str, str], plan_id: int, **fields: Any) -> int:
    r = await client.post(
        f"/api/v1/plans/{plan_id}/tasks", json={"status": "ready", **fields}, headers=headers
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def open_board(page: Page, plan_id: int) -> None:
    await page.goto(f"/plans/{plan_id}")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")


async def focused(page: Page) -> str:
    """The focused element: a card's id, or the text of anything else."""
    return str(await page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))


async def tab_stops(page: Page) -> dict[str, list[str]]:
    """Per lane, the cards that are in the Tab order."""
    return dict(
        await page.evaluate(
            """Object.fromEntries([...document.querySelectorAll('#board-lanes > .lane')].map((lane) =>
                [lane.dataset.discipline, [...lane.querySelectorAll('.card')].filter((c) => c.tabIndex === 0)
                    .map((c) => c.id)]))"""
        )
    )


async def test_from_page_load_to_a_moved_ot_card_in_under_10_key_presses(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    t = await make_team(db)
    lead = await login(t.lead)
    for n in range(3):
        await add_task(client, lead, t.plan_id, title=f"Nursing task {n + 1}", discipline="nurse")
    splint = await add_task(
        client, lead, t.plan_id, title="Resting splint fitting", discipline="occupational_therapist"
    )
    await add_task(client, lead, t.plan_id, title="Pacing diary review", discipline="occupational_therapist")
    ot = await signed_in(t.ot)
    page = ot.page
    await open_board(page, t.plan_id)
    presses = 0

    async def press(key: str) -> None:
        nonlocal presses
        presses += 1
        await page.keyboard.press(key)

    # The OT lane's number is shown beside its name: pressing it puts the focus on the lane's first card.
    number = await page.locator("#lane-occupational_therapist [data-field='lane-key']").text_content()
    assert number and number.isdigit()
    await press(number)
    assert await focused(page) == f"task-{splint}"
    await expect(page.locator("#board-announcer")).to_contain_text("Occupational therapy lane, 2 tasks")
    # M opens the card's Move menu; Tab to its item labelled "In progress" (a column's name); Enter moves.
    await press("m")
    menu = page.locator(f"#task-{splint} [data-part='move-menu']")
    await expect(menu).to_be_visible()
    in_progress = menu.get_by_text("In progress", exact=True)
    await expect(in_progress).to_be_visible()
    while not await in_progress.evaluate(
        "el => el.closest('button, a, [role^=menuitem], [tabindex]') === document.activeElement"
    ):
        assert presses < 9, f"{presses} key presses and still not on In progress (at {await focused(page)!r})"
        await press("Tab")
    await press("Enter")
    card = page.locator(f'#lane-occupational_therapist .cell[data-column="in_progress"] #task-{splint}')
    await expect(card).to_have_attribute("data-status", "in-progress")
    await expect(page.locator("#board-announcer")).to_contain_text("moved to In progress")
    assert presses < 10, presses
    # The focus stays on the moved card, which is now its lane's Tab stop.
    assert await page.evaluate(f"document.getElementById('task-{splint}').contains(document.activeElement)")
    assert (await tab_stops(page))["occupational_therapist"] == [f"task-{splint}"]
    r = await client.get(f"/api/v1/tasks/{splint}", headers=lead)
    assert r.json()["status"] == "in-progress"
    assert ot.script_errors == []


async def test_one_tab_stop_per_lane_and_arrow_keys_between_cards_and_lanes(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    t = await make_team(db)
    lead = await login(t.lead)
    n1 = await add_task(client, lead, t.plan_id, title="UDS due", discipline="nurse")
    n2 = await add_task(client, lead, t.plan_id, title="Wound check", discipline="nurse")
    n3 = await add_task(
        client, lead, t.plan_id, title="Call pharmacy", discipline="nurse", status="in-progress"
    )
    o1 = await add_task(
        client, lead, t.plan_id, title="Resting splint fitting", discipline="occupational_therapist"
    )
    ot = await signed_in(t.ot)
    page = ot.page
    await open_board(page, t.plan_id)
    assert await tab_stops(page) == {
        "ipm_lead": [],
        "nurse": [f"task-{n1}"],
        "occupational_therapist": [f"task-{o1}"],
    }

    # The skip links come first: "Skip to your lane" puts the focus on the OT's card, "Skip to the board" on
    # the first card.
    await page.keyboard.press("Tab")
    assert await focused(page) == "Skip to main content"
    await page.keyboard.press("Tab")
    assert await focused(page) == "Skip to the board"
    await page.keyboard.press("Tab")
    assert await focused(page) == "Skip to your lane, Occupational therapy"
    await page.keyboard.press("Enter")
    assert await focused(page) == f"task-{o1}"
    await expect(page.locator("#board-announcer")).to_have_text("Occupational therapy lane, 1 task.")
    await page.keyboard.press("Shift+Tab")  # back through the lane's head, not to the skip links
    assert " ".join((await focused(page)).split()) == "+ Add task to Occupational therapy"
    await page.locator(".skip-link", has_text="Skip to the board").focus()
    await page.keyboard.press("Enter")
    assert await focused(page) == f"task-{n1}"

    # Tab leaves the lane after the card's own buttons: the next lane's toggle, its Add button, its card.
    for expected in [
        "Edit UDS due",
        "Move UDS due",
        "Occupational therapy 3",
        "+ Add task to Occupational therapy",
        f"task-{o1}",
    ]:
        await page.keyboard.press("Tab")
        assert " ".join((await focused(page)).split()) == expected
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Shift+Tab")
    assert await focused(page) == "Edit UDS due"
    await page.keyboard.press("Shift+Tab")
    assert await focused(page) == f"task-{n1}"

    # Arrows: down the column, across to the next column, down into the next lane; the Tab stop follows.
    await page.keyboard.press("ArrowDown")
    assert await focused(page) == f"task-{n2}"
    await page.keyboard.press("ArrowDown")  # the last card of the column: on to the OT lane below
    assert await focused(page) == f"task-{o1}"
    await page.keyboard.press("ArrowUp")
    assert await focused(page) == f"task-{n2}"
    await page.keyboard.press("ArrowRight")
    assert await focused(page) == f"task-{n3}"
    await page.keyboard.press("ArrowRight")  # nothing further right: the focus stays
    assert await focused(page) == f"task-{n3}"
    await page.keyboard.press("Home")
    assert await focused(page) == f"task-{n1}"
    await page.keyboard.press("End")
    assert await focused(page) == f"task-{n3}"
    assert (await tab_stops(page))["nurse"] == [f"task-{n3}"]

    # Enter opens the card; Escape closes it and the focus comes back to the card.
    await page.keyboard.press("Enter")
    await expect(page.locator("#task-dialog")).to_be_visible()
    await expect(page.locator("#edit-title")).to_have_value("Call pharmacy")
    await page.keyboard.press("Escape")
    await expect(page.locator("#task-dialog")).to_be_hidden()
    assert await page.evaluate(f"document.getElementById('task-{n3}').contains(document.activeElement)")

    # A card that arrives live is said, and is not another Tab stop in its lane.
    n4 = await add_task(client, lead, t.plan_id, title="Dressing change", discipline="nurse")
    await expect(page.locator(f"#task-{n4}")).to_have_attribute("tabindex", "-1")
    await expect(page.locator("#board-news")).to_contain_text("added “Dressing change” to Nursing.")
    assert (await tab_stops(page))["nurse"] == [f"task-{n3}"]

    # A collapsed lane has no card in the Tab order; its number goes to its toggle, and says so.
    await page.locator("#lane-nurse [data-action='toggle-lane']").click()
    assert (await tab_stops(page))["nurse"] == []
    await page.keyboard.press("2")
    assert " ".join((await focused(page)).split()) == "Nursing 2"
    await expect(page.locator("#board-announcer")).to_have_text("Nursing lane, 4 tasks, collapsed.")
    await page.keyboard.press("Enter")
    await expect(page.locator("#lane-nurse [data-action='toggle-lane']")).to_have_attribute(
        "aria-expanded", "true"
    )
    assert len((await tab_stops(page))["nurse"]) == 1

    # Shortcuts never fire while typing: a digit in the search box is a digit.
    await page.locator("#site-search-q").focus()
    await page.keyboard.press("3")
    await expect(page.locator("#site-search-q")).to_have_value("3")
    assert await focused(page) == "site-search-q"

    # "?" shows the shortcuts; the Activity list, which scrolls, is a Tab stop with a name.
    await page.locator(f"#task-{n1}").focus()
    await page.keyboard.press("?")
    await expect(page.locator("#board-keys")).to_have_attribute("open", "")
    await expect(page.locator("#board-keys")).to_contain_text("Go to that lane")
    await page.keyboard.press("Escape")
    await expect(page.locator("#board-keys")).not_to_have_attribute("open", "")
    activity = page.locator("#activity-list")
    await expect(activity).to_have_attribute("tabindex", "0")
    await expect(activity).to_have_accessible_name("Activity")
    assert ot.script_errors == []
