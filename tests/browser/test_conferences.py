"""A case conference in real browsers, on the demo clinic (careteam/demo.py): the facilitator (the lead), an
attendee (the physician) and an observer off every care team (a second psychologist), each in her own
browser context.

What they would notice: when the facilitator moves the agenda on, the others' rooms follow within a
second; a task moved on the plan from elsewhere shows in every room by itself; a decision makes a task that
is on the plan's board; the observer's room has no control that writes; someone who closes the room leaves
the list of who is here. On a 1920x1080 wall screen every card of the demo's 25-task plan is on the screen
without scrolling; the summary prints, one patient a section, each item's heading in the PDF.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, ViewportSize, expect
from pypdf import PdfReader
from sqlmodel import col, select

from careteam import demo
from careteam.patients.tables import Patient
from careteam.plans.tables import CarePlan
from careteam.settings import Settings
from tests.browser.axe import serious_axe_findings
from tests.browser.conftest import Clinician, SignedIn
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser

WALL: ViewportSize = {"width": 1920, "height": 1080}
PHONE: ViewportSize = {"width": 390, "height": 844}
# The promise: every screen follows the facilitator within a second.
FOLLOW_MS = 1000
ELLEN, MARIA = "Ellen Marsh", "Maria Alvarez"
# What a page offers only to the one who may write.
WRITE_CONTROLS = ", ".join(
    [
        *(f"[data-action='{a}']" for a in ("start", "advance", "end", "show-item")),
        "form[data-action]",
        "textarea",
    ]
)


@dataclass
class Room:
    conference_id: int
    plans: dict[str, int]  # patient name -> plan id
    items: dict[str, int]  # patient name -> agenda item id
    lead: dict[str, str]  # the lead's API headers


async def _plans(db: Any) -> dict[str, int]:
    async with db() as s:
        rows = (
            await s.exec(
                select(Patient.name, CarePlan.id).join(CarePlan, col(CarePlan.patient_id) == col(Patient.id))
            )
        ).all()
    return {name: int(pid or 0) for name, pid in rows}


async def make_room(settings: Settings, db: Any, client: httpx.AsyncClient, login: Any) -> Room:
    """The demo clinic, and a conference about to start: Ellen Marsh (the 25-task board), then Maria
    Alvarez."""
    await demo.seed(settings, password=PASSWORD)
    plans = await _plans(db)
    lead = await login("lead")
    r = await client.get("/api/v1/users?limit=100", headers=lead)
    assert r.status_code == 200, r.text
    ids = {u["username"]: u["id"] for u in r.json()["items"]}
    r = await client.post(
        "/api/v1/conferences",
        json={
            "title": "Spine MDT, Thursday",
            "team": "Browser MDT",  # not the demo's team: nothing rolls over onto it
            "starts_at": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
            "attendee_ids": [ids["physician"], ids["nurse"]],
            "observer_ids": [ids["psychologist2"]],
            "items": [
                {
                    "plan_id": plans[ELLEN],
                    "reason": "Decide on RFA after two positive MBBs (80% and 75% relief)",
                    "presenter_id": ids["physician"],
                },
                {"plan_id": plans[MARIA], "reason": "Declined psychology referral"},
            ],
        },
        headers=lead,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    items = {i["patient_name"]: i["id"] for i in body["items"]}
    return Room(body["id"], plans, items, lead)


async def open_room(who: Clinician, conference_id: int) -> Page:
    page = who.page
    await page.goto(f"/conferences/{conference_id}")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await page.evaluate("window.sameDocument = true")
    return page


async def test_every_room_follows_the_facilitator_and_the_boards_live(
    signed_in: SignedIn, settings: Settings, db: Any, client: httpx.AsyncClient, login: Any
) -> None:
    room = await make_room(settings, db, client, login)
    lead, doc, observer = (
        await signed_in("lead"),
        await signed_in("physician"),
        await signed_in("psychologist2"),
    )
    facilitator = await open_room(lead, room.conference_id)
    member = await open_room(doc, room.conference_id)
    watcher = await open_room(observer, room.conference_id)
    rooms = (facilitator, member, watcher)

    # Only the facilitator has controls that write; the attendee and the observer have none at all.
    assert await member.locator(WRITE_CONTROLS).count() == 0
    assert await watcher.locator(WRITE_CONTROLS).count() == 0
    # Everyone is in the list of who is here (each room's heartbeat), the observer too.
    for page in rooms:
        for name in ("Dr. Maya Okafor", "Dr. Daniel Reyes", "Dr. Samuel Osei"):
            await expect(page.locator("#presence-list")).to_contain_text(name)

    # The facilitator starts, by keyboard: every room says so, and shows the first item.
    start = facilitator.get_by_role("button", name="Start conference")
    await start.focus()
    await facilitator.keyboard.press("Enter")
    for page in rooms:
        await expect(page.locator("#room-status")).to_have_text("In progress")
        await expect(page.locator("#item-patient")).to_have_text(ELLEN)
        await expect(page.locator(f"#agenda-item-{room.items[ELLEN]}")).to_have_attribute(
            "aria-current", "step"
        )

    # Next item, by keyboard: both others follow within a second, without a reload; the facilitator's focus
    # stays on Next item though the part of the page that holds it was replaced.
    await facilitator.get_by_role("button", name="Next item").focus()
    await facilitator.keyboard.press("Enter")
    for page in rooms:
        await expect(page.locator("#item-patient")).to_have_text(MARIA, timeout=FOLLOW_MS)
    await expect(facilitator.get_by_role("button", name="Next item")).to_be_focused()
    for page in rooms:
        await expect(page.locator(f"#agenda-item-{room.items[MARIA]}")).to_have_attribute(
            "aria-current", "step"
        )
        assert await page.evaluate("window.sameDocument === true")
    await expect(facilitator.locator("#room-announcer")).to_have_text(f"Now on screen: {MARIA}.")

    # A task moved on Maria's board from a fourth browser (the nurse, on the plan's own board, with its Move
    # menu) moves in every room.
    nurse = await login("nurse")
    r = await client.get(f"/api/v1/plans/{room.plans[MARIA]}", headers=nurse)
    assert r.status_code == 200, r.text
    todo = next(
        t
        for t in r.json()["tasks"]
        if t["status"] in ("requested", "ready", "accepted") and t["discipline"] == "nurse"
    )
    # The facilitator is typing a decision meanwhile: the room redrawn around her keeps what she typed.
    await facilitator.locator("#decision-text").fill("OT to reassess")
    nurse_board = (await signed_in("nurse")).page
    await nurse_board.goto(f"/plans/{room.plans[MARIA]}")
    await expect(nurse_board.locator("#board-page")).to_have_attribute("data-ready", "true")
    card = nurse_board.locator(f"#task-{todo['id']}")
    await card.locator('[data-action="move-menu"]').click()
    await card.locator('[data-move-to="in_progress"]').click()
    await expect(card).to_have_attribute("data-status", "in-progress")
    for page in rooms:
        await expect(page.locator(f'td[data-column="in_progress"] #room-task-{todo["id"]}')).to_be_visible()

    await expect(facilitator.locator("#decision-text")).to_have_value("OT to reassess")

    # A decision that makes a task, by keyboard: it is on the room's board, and on the plan's own board.
    await facilitator.locator("#decision-text").fill("OT to reassess splint before next conference")
    await facilitator.get_by_label("A task").check()
    await facilitator.locator("#decision-task-lane").select_option("occupational_therapist")
    due = (date.today() + timedelta(days=14)).isoformat()
    await facilitator.locator("#decision-task-due").fill(due)
    await facilitator.locator("#decision-text").focus()
    await facilitator.keyboard.press("Enter")
    await expect(facilitator.locator("#decision-list")).to_contain_text("OT to reassess splint")
    for page in rooms:
        await expect(page.locator("#room-lane-occupational_therapist")).to_contain_text(
            "OT to reassess splint"
        )
    r = await client.get(f"/api/v1/conferences/{room.conference_id}", headers=room.lead)
    decision = next(i for i in r.json()["items"] if i["patient_name"] == MARIA)["decisions"][0]
    assert decision["task_id"] is not None
    board = await lead.context.new_page()
    await board.goto(f"/plans/{room.plans[MARIA]}")
    await expect(board.locator(f"#task-{decision['task_id']}")).to_contain_text("OT to reassess splint")
    await board.close()

    # The outcome and the minutes: every room's agenda and record show them.
    await facilitator.locator("#item-status").select_option("deferred")
    await facilitator.get_by_role("button", name="Set outcome").click()
    await expect(facilitator.locator(f"#agenda-item-{room.items[MARIA]}")).to_contain_text("Deferred")
    await facilitator.locator("#item-minutes").fill(
        "Splint fits poorly; OT to review. Psychology referral to discuss again."
    )
    await facilitator.get_by_role("button", name="Save minutes").click()
    for page in rooms:
        await expect(page.locator(f"#agenda-item-{room.items[MARIA]}")).to_contain_text("Deferred")
        await expect(page.locator(".room-minutes")).to_have_text(re.compile("^Splint fits poorly"))

    # The physician closes her tab: she leaves the list of who is here (attendance keeps her).
    await member.close()
    await expect(facilitator.locator("#presence-list")).not_to_contain_text("Dr. Daniel Reyes")
    r = await client.get(f"/api/v1/conferences/{room.conference_id}/attendance", headers=room.lead)
    assert "Dr. Daniel Reyes" in {a["name"] for a in r.json()}

    # The facilitator ends the conference: every room says so, and offers no more decisions.
    facilitator.once("dialog", lambda dialog: dialog.accept())
    await facilitator.get_by_role("button", name="End conference").click()
    for page in (facilitator, watcher):
        await expect(page.locator("#room-status")).to_have_text("Ended")
    await expect(facilitator.locator("#decision-form")).to_have_count(0)
    for page in (facilitator, watcher):
        await expect(page.locator("#room-alert")).to_be_hidden()  # no write or fetch failed on the way
    errors = lead.script_errors + doc.script_errors + observer.script_errors
    assert errors == []


async def test_the_room_shows_every_card_on_a_wall_screen_and_the_summary_prints(
    signed_in: SignedIn, settings: Settings, db: Any, client: httpx.AsyncClient, login: Any
) -> None:
    room = await make_room(settings, db, client, login)
    lead = await signed_in("lead")
    page = lead.page
    await page.set_viewport_size(WALL)
    await open_room(lead, room.conference_id)
    r = await client.get(f"/api/v1/plans/{room.plans[ELLEN]}", headers=room.lead)
    closed = {"cancelled", "failed", "rejected", "entered-in-error"}
    shown = [t for t in r.json()["tasks"] if t["status"] not in closed]
    assert len(shown) >= 25

    # Every card of Ellen's board, whole, inside the window; the page itself does not scroll.
    cards = page.locator(".room-card")
    assert await cards.count() == len(shown)
    for n in range(len(shown)):
        box = await cards.nth(n).bounding_box()
        assert box is not None, n
        assert box["x"] >= 0 and box["y"] >= 0, (n, box)
        assert box["x"] + box["width"] <= WALL["width"] and box["y"] + box["height"] <= WALL["height"], (
            n,
            box,
        )
    height = await page.evaluate("[document.documentElement.scrollHeight, window.innerHeight]")
    assert height[0] <= height[1], height
    # Its column heads stay at the top of the board when the board scrolls (a smaller screen).
    await page.set_viewport_size({"width": 1280, "height": 700})
    await page.locator("#room-board").evaluate("el => { el.scrollTop = 200; }")
    head = await page.locator(".room-grid thead th").first.bounding_box()
    board = await page.locator("#room-board").bounding_box()
    assert head is not None and board is not None and abs(head["y"] - board["y"]) < 3, (head, board)

    # "Suggest agenda" on the schedule form fills the first row with a plan that needs discussion, and why.
    await page.goto("/conferences")
    await page.get_by_role("button", name="Suggest agenda").click()
    await expect(page.locator("#suggest-status")).to_contain_text("suggested")
    await expect(page.locator("#item-0-plan")).not_to_have_value("")
    await expect(page.locator("#item-0-reason")).not_to_have_value("")

    # Axe finds nothing serious in the room, the list and the summary, on a wall screen and on a phone;
    # on the phone nothing scrolls sideways.
    findings: list[str] = []
    for size in (WALL, PHONE):
        await page.set_viewport_size(size)
        for path in (
            "/conferences",
            f"/conferences/{room.conference_id}",
            f"/conferences/{room.conference_id}/summary",
        ):
            await page.goto(path)
            findings += [f"{path} at {size['width']}: {f}" for f in await serious_axe_findings(page)]
            if path == f"/conferences/{room.conference_id}":
                await expect(page.locator("#room-alert")).to_be_hidden()  # nothing went wrong
            if size is PHONE:
                widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                assert widths[0] <= widths[1], (path, widths)
    assert not findings, "\n".join(findings)

    # The meeting: a decision and minutes on Ellen's item, then it ends; the summary prints one patient a
    # section, and the PDF holds each item's heading and the decision.
    r = await client.patch(
        f"/api/v1/conferences/{room.conference_id}",
        json={"status": "in-progress"},
        headers={**room.lead, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    item = room.items[ELLEN]
    r = await client.post(
        f"/api/v1/conferences/{room.conference_id}/items/{item}/decisions",
        json={"text": "Proceed to RFA L4-L5 bilateral", "task": {"discipline": "physician"}},
        headers=room.lead,
    )
    assert r.status_code == 201, r.text
    r = await client.get(f"/api/v1/conferences/{room.conference_id}", headers=room.lead)
    r = await client.patch(
        f"/api/v1/conferences/{room.conference_id}",
        json={"status": "ended"},
        headers={**room.lead, "If-Match": r.headers["ETag"]},
    )
    assert r.status_code == 200, r.text
    await page.set_viewport_size(WALL)
    await page.goto(f"/conferences/{room.conference_id}/summary")
    await expect(page.get_by_role("link", name="Export as JSON")).to_have_attribute(
        "href", f"/api/v1/conferences/{room.conference_id}/summary"
    )
    pdf = await page.pdf(format="A4")
    reader = PdfReader(io.BytesIO(pdf))
    pages = [re.sub(r"\s+", " ", p.extract_text()) for p in reader.pages]
    text = " ".join(pages)
    assert "Lumbar" in text or ELLEN in text
    for n, name in enumerate((ELLEN, MARIA), start=1):
        heading = await page.locator(f"#summary-item-{room.items[name]}-title").text_content()
        assert heading is not None and heading.startswith(f"{n}. {name}")
        # One patient a page: the heading is on a page of its own, the other patient not on it.
        holding = [p for p in pages if f"{n}. {name}" in p]
        assert holding, (name, pages)
        other = MARIA if name == ELLEN else ELLEN
        assert all(f". {other}:" not in p for p in holding), (name, holding)
    assert "Proceed to RFA L4-L5 bilateral" in text
    assert lead.script_errors == []
