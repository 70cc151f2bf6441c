"""Messaging on the board in a real browser: the team thread and a task's comments, live between two
clinicians; read receipts ("seen by"), urgent acknowledgements, injection shown as text, links to a message,
and the thread panel and the dialog with comments passing axe at 390 px and 1920 px, usable by keyboard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.async_api import Dialog, Page, expect

from careteam.core.vocab import Discipline
from careteam.patients.codes import TeamRole
from tests.browser.axe import serious_axe_findings
from tests.browser.conftest import SignedIn
from tests.factories import make_patient, make_plan, make_user

pytestmark = pytest.mark.browser

SIZES = {"phone": {"width": 390, "height": 844}, "wall": {"width": 1920, "height": 1080}}
SLEEP_DIARY = "@psychology please review the sleep diary"


@dataclass
class Team:
    plan_id: int
    ids: dict[str, int]
    usernames: dict[str, str]
    names: dict[str, str]


async def make_team(db: Any) -> Team:
    """A lead, a nurse, a psychologist and a physician on one patient's care team, with one plan."""
    async with db() as s:
        users = {
            "lead": await make_user(s, discipline=Discipline.ipm_lead),
            "nurse": await make_user(s, discipline=Discipline.nurse),
            "psychologist": await make_user(s, discipline=Discipline.psychologist),
            "physician": await make_user(s, discipline=Discipline.physician),
        }
        roles = {"lead": TeamRole.lead}
        patient = await make_patient(
            s, members=[(u, roles.get(k, TeamRole.member)) for k, u in users.items()], name="Ellen Marsh"
        )
        plan = await make_plan(s, patient)
        return Team(
            plan_id=plan.id or 0,
            ids={k: u.id or 0 for k, u in users.items()},
            usernames={k: u.username for k, u in users.items()},
            names={k: u.display_name for k, u in users.items()},
        )


async def open_board(page: Page, plan_id: int) -> None:
    await page.goto(f"/plans/{plan_id}")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(page.locator("#team-thread")).to_have_attribute("data-ready", "true")
    await page.evaluate("window.sameDocument = true")


async def never_reloaded(page: Page) -> None:
    assert await page.evaluate("window.sameDocument === true")


async def add_task(client: httpx.AsyncClient, h: dict[str, str], plan_id: int) -> dict[str, Any]:
    r = await client.post(
        f"/api/v1/plans/{plan_id}/tasks", json={"title": "UDS due", "discipline": "nurse"}, headers=h
    )
    assert r.status_code == 201, r.text
    task: dict[str, Any] = r.json()
    return task


def no_dialogs(page: Page) -> list[str]:
    """Every alert/confirm the page opens (injected script would): the test fails on any."""
    opened: list[str] = []

    async def refuse(dialog: Dialog) -> None:
        opened.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", refuse)
    return opened


async def thread_fits(page: Page, selector: str) -> None:
    box = await page.locator(selector).bounding_box()
    width = await page.evaluate("document.documentElement.clientWidth")
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box, width)
    inner = await page.evaluate(
        f"[...document.querySelectorAll('{selector} *')].filter(e => e.scrollWidth > e.clientWidth + 1"
        " && getComputedStyle(e).overflowX === 'visible').map(e => e.className)"
    )
    assert inner == [], inner


async def test_a_mention_reaches_the_psychologist_live_and_the_nurse_sees_it_seen(
    signed_in: SignedIn, db: Any
) -> None:
    t = await make_team(db)
    nurse, psy = await signed_in(t.usernames["nurse"]), await signed_in(t.usernames["psychologist"])
    await open_board(nurse.page, t.plan_id)
    await psy.page.goto("/patients")
    badge = psy.page.locator("#unread-badge")
    await expect(badge).to_have_attribute("data-state", "live")
    await expect(badge.locator(".nav-badge__count")).to_have_text("0")

    # The nurse writes, using the @ completion by keyboard.
    box = nurse.page.locator("#thread-body")
    await box.fill("")
    await box.press_sequentially("@psychology")
    options = nurse.page.locator("#thread-mentions [role=option]")
    await expect(options.first).to_have_text("@psychology (Psychology)")
    await box.press("Enter")
    await expect(box).to_have_value("@psychology ")
    await box.press_sequentially("please review the sleep diary")
    await nurse.page.get_by_role("button", name="Send").click()
    message = nurse.page.locator("#team-thread .message").last
    await expect(message).to_contain_text("please review the sleep diary")
    await expect(box).to_have_value("")

    # Her badge goes up live, on another page.
    await expect(badge.locator(".nav-badge__count")).to_have_text("1")

    # She opens the board: the message is there and unread; the thread on screen marks it read.
    await psy.page.goto(f"/plans/{t.plan_id}")
    await expect(psy.page.locator("#live-status")).to_have_attribute("data-state", "live")
    mine = psy.page.locator("#team-thread .message").last
    await expect(mine).to_contain_text(SLEEP_DIARY)
    async with psy.page.expect_response(re.compile(r"/messages/read$")) as read:
        await psy.page.locator("#team-thread").scroll_into_view_if_needed()
    assert (await read.value).ok
    await expect(psy.page.locator('#team-thread [data-field="unread"]')).to_be_hidden()
    # ... and the nurse sees it seen, within a second of the read.
    await expect(message.locator('[data-part="seen"]')).to_have_text(
        f"Seen by {t.names['psychologist']}", timeout=1000
    )
    await never_reloaded(nurse.page)
    assert nurse.script_errors == [] and psy.script_errors == []


INJECTIONS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "[x](javascript:alert(1))",
]


async def test_injection_arrives_live_and_after_reload_as_text(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    t = await make_team(db)
    nurse = await signed_in(t.usernames["nurse"])
    opened = no_dialogs(nurse.page)
    await open_board(nurse.page, t.plan_id)
    h = await login(t.usernames["physician"])
    for body in INJECTIONS:
        r = await client.post(f"/api/v1/plans/{t.plan_id}/messages", json={"body": body}, headers=h)
        assert r.status_code == 201, r.text
    # A Markdown subset renders (bold), as HTML the server sanitised.
    r = await client.post(f"/api/v1/plans/{t.plan_id}/messages", json={"body": "**hold** the PT"}, headers=h)
    assert r.status_code == 201, r.text

    async def shown_as_text() -> None:
        thread = nurse.page.locator("#team-thread")
        messages = thread.locator(".message")
        await expect(messages).to_have_count(4)
        for i, body in enumerate(INJECTIONS[:2]):
            await expect(messages.nth(i).locator('[data-field="html"]')).to_have_text(body)
        await expect(messages.nth(2)).to_contain_text("[x](javascript:alert(1))")
        await expect(thread.locator("img, script:not([type]), a[href^='javascript']")).to_have_count(0)
        await expect(messages.nth(3).locator('[data-field="html"] strong')).to_have_text("hold")

    await shown_as_text()
    await never_reloaded(nurse.page)
    await nurse.page.reload()
    await expect(nurse.page.locator("#team-thread")).to_have_attribute("data-ready", "true")
    await shown_as_text()
    assert opened == [] and nurse.script_errors == []


async def test_the_physician_acknowledges_and_the_nurse_sees_it_live(signed_in: SignedIn, db: Any) -> None:
    t = await make_team(db)
    nurse, doc = await signed_in(t.usernames["nurse"]), await signed_in(t.usernames["physician"])
    await open_board(nurse.page, t.plan_id)
    await open_board(doc.page, t.plan_id)

    await nurse.page.locator("#thread-body").fill("Hold apixaban from Monday for Thursday's procedure")
    await nurse.page.get_by_label("Urgent: ask to acknowledge").check()
    await nurse.page.locator("#team-thread").get_by_label(re.compile(re.escape(t.names["physician"]))).check()
    await nurse.page.get_by_role("button", name="Send").click()
    sent = nurse.page.locator("#team-thread .message").last
    await expect(sent.locator('[data-part="waiting"]')).to_contain_text(t.names["physician"])

    urgent = doc.page.locator("#team-thread .message").last
    await expect(urgent).to_contain_text("Hold apixaban")
    ack = urgent.get_by_role("button", name="Acknowledge")
    await expect(ack).to_be_visible()
    await ack.click()
    await expect(ack).to_be_hidden()

    acks = sent.locator('[data-field="acks"]')
    await expect(acks).to_contain_text(f"Acknowledged by {t.names['physician']}")
    await expect(sent.locator('[data-part="waiting"]')).to_be_hidden()
    await never_reloaded(nurse.page)
    assert nurse.script_errors == [] and doc.script_errors == []


async def test_task_comments_count_live_on_the_card_and_show_in_the_dialog(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    t = await make_team(db)
    task = await add_task(client, await login(t.usernames["lead"]), t.plan_id)
    nurse, doc = await signed_in(t.usernames["nurse"]), await signed_in(t.usernames["physician"])
    await open_board(nurse.page, t.plan_id)
    await open_board(doc.page, t.plan_id)

    card = doc.page.locator(f"#task-{task['id']}")
    await nurse.page.locator(f"#task-{task['id']}").get_by_role("button", name=re.compile("^Edit")).click()
    dialog = nurse.page.locator("#task-dialog")
    await expect(dialog.get_by_role("heading", name="Comments")).to_be_visible()
    await dialog.get_by_label("Add a comment").fill("Called the patient; UDS booked for Friday")
    await dialog.get_by_role("button", name="Send").click()
    await expect(dialog.locator(".message")).to_contain_text("UDS booked for Friday")

    # The physician's card counts it live, unread for him.
    await expect(card.locator(".card__comments")).to_have_text("1 comment")
    await expect(card.locator(".card__unread")).to_have_text("1 unread")
    # He opens the card: the comment is there, and it is read.
    await card.get_by_role("button", name=re.compile("^Edit")).click()
    await expect(doc.page.locator("#task-dialog .message")).to_contain_text("UDS booked for Friday")
    await expect(card.locator(".card__unread")).to_have_count(0)
    await never_reloaded(doc.page)
    assert nurse.script_errors == [] and doc.script_errors == []


async def test_make_this_a_task_and_links_both_ways(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    t = await make_team(db)
    h = await login(t.usernames["psychologist"])
    first = await client.post(f"/api/v1/plans/{t.plan_id}/messages", json={"body": "Sleep diary"}, headers=h)
    for n in range(35):  # more than a page: the link below has to page back to it
        await client.post(f"/api/v1/plans/{t.plan_id}/messages", json={"body": f"Note {n}"}, headers=h)
    nurse = await signed_in(t.usernames["nurse"])
    await open_board(nurse.page, t.plan_id)
    newest = nurse.page.locator("#team-thread .message").last
    await newest.get_by_role("button", name="Make this a task").click()
    link = newest.get_by_role("link", name="Task: Note 34")
    await expect(link).to_be_visible()
    card = nurse.page.locator(".card", has_text="Note 34")
    await expect(card).to_be_visible()
    # The task went to the author's lane, and its card links back to the message.
    await expect(card).to_have_attribute("data-discipline", "psychologist")
    await expect(card.get_by_role("link", name="From a message")).to_have_attribute(
        "href", f"#message-{newest_id(await newest.get_attribute('data-message-id'))}"
    )

    # A link to a message on an earlier page loads earlier pages until it shows, and highlights it.
    await nurse.page.goto(f"/plans/{t.plan_id}#message-{first.json()['id']}")
    target = nurse.page.locator(f"#message-{first.json()['id']}")
    await expect(target).to_have_class(re.compile("is-highlighted"))
    await expect(target).to_be_in_viewport()

    # A task made from a task's comment: its card's "From a message" opens the commented task on the comment.
    commented = (
        await client.post(
            f"/api/v1/plans/{t.plan_id}/tasks", json={"title": "UDS", "discipline": "nurse"}, headers=h
        )
    ).json()
    said = await client.post(
        f"/api/v1/tasks/{commented['id']}/messages", json={"body": "Book the pharmacy review"}, headers=h
    )
    made = await client.post(f"/api/v1/messages/{said.json()['id']}/task", json={}, headers=h)
    assert made.status_code == 201, made.text
    follow_up = nurse.page.locator(f"#task-{made.json()['id']}")
    await follow_up.get_by_role("link", name="From a message").click()
    comment = nurse.page.locator(f"#task-dialog #message-{said.json()['id']}")
    await expect(comment).to_have_class(re.compile("is-highlighted"))
    await expect(comment).to_contain_text("Book the pharmacy review")
    assert nurse.script_errors == []


def newest_id(raw: str | None) -> int:
    assert raw is not None
    return int(raw)


async def test_thread_and_comments_pass_axe_fit_and_work_by_keyboard(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    t = await make_team(db)
    h = await login(t.usernames["physician"])
    task = await add_task(client, h, t.plan_id)
    await client.post(
        f"/api/v1/plans/{t.plan_id}/messages",
        json={
            "body": "**Hold** apixaban, see `protocol 4`\n\n- one\n- two",
            "urgent": {"users": [t.ids["nurse"]]},
        },
        headers=h,
    )
    await client.post(f"/api/v1/tasks/{task['id']}/messages", json={"body": "UDS booked"}, headers=h)

    nurse = await signed_in(t.usernames["nurse"])
    page = nurse.page
    await open_board(page, t.plan_id)
    assert await serious_axe_findings(page) == []
    for size in SIZES.values():
        await page.set_viewport_size(size)
        await thread_fits(page, "#team-thread")
    await page.set_viewport_size({"width": 1280, "height": 900})

    # The composer by keyboard: Tab reaches it, @ opens the list, arrows choose, Escape closes it.
    box = page.locator("#thread-body")
    await box.focus()
    await box.press_sequentially("Ask @")
    listbox = page.locator("#thread-mentions")
    await expect(listbox).to_be_visible()
    first = await box.get_attribute("aria-activedescendant")
    await box.press("ArrowDown")
    second = await box.get_attribute("aria-activedescendant")
    assert first and second and first != second
    await expect(page.locator(f"#{second}")).to_have_attribute("aria-selected", "true")
    await box.press("Escape")
    await expect(listbox).to_be_hidden()
    await box.press_sequentially("t")  # "@t": team, or a name
    await box.press("Tab")
    await expect(box).to_have_value(re.compile(r"^Ask @\S+ $"))
    await page.keyboard.press("Tab")  # on to the urgent toggle, then Send
    await expect(page.get_by_label("Urgent: ask to acknowledge")).to_be_focused()

    # The urgent message asks her: Acknowledge by keyboard.
    ack = page.locator("#team-thread").get_by_role("button", name="Acknowledge")
    await ack.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#team-thread").get_by_text("Acknowledged by")).to_be_visible()

    # The dialog with comments, opened by a #task-N link from another page (a notification's, a search
    # result's): a full load, where the board's own script must neither drop the anchor nor miss the click.
    await page.goto("/patients")
    await page.goto(f"/plans/{t.plan_id}#task-{task['id']}")
    await expect(page).to_have_url(re.compile(rf"/plans/{t.plan_id}#task-{task['id']}$"))
    dialog = page.locator("#task-dialog")
    await expect(dialog.locator(".message")).to_contain_text("UDS booked")
    assert await serious_axe_findings(page) == []
    for size in SIZES.values():
        await page.set_viewport_size(size)
        await thread_fits(page, "#task-dialog .thread")
    comment_box = dialog.get_by_label("Add a comment")
    await comment_box.focus()
    await comment_box.press_sequentially("@")
    await expect(dialog.locator("[role=listbox]")).to_be_visible()
    await comment_box.press("Escape")  # closes the list, not the dialog
    await expect(dialog.locator("[role=listbox]")).to_be_hidden()
    await expect(dialog).to_be_visible()
    assert nurse.script_errors == []


async def test_a_failed_send_keeps_the_text_and_a_retry_reuses_its_key(signed_in: SignedIn, db: Any) -> None:
    t = await make_team(db)
    nurse = await signed_in(t.usernames["nurse"])
    page = nurse.page
    await open_board(page, t.plan_id)
    keys: list[str] = []

    async def offline(route: Any) -> None:
        keys.append(route.request.headers["idempotency-key"])
        await route.abort()

    url = re.compile(rf"/api/v1/plans/{t.plan_id}/messages$")
    await page.route(url, offline)
    box = page.locator("#thread-body")
    await box.fill("PDMP checked, no other prescribers")
    await page.get_by_role("button", name="Send").click()
    error = page.locator('#team-thread [data-field="error"]')
    await expect(error).to_contain_text("could not be reached")
    await expect(box).to_have_value("PDMP checked, no other prescribers")
    await page.unroute(url)

    async with page.expect_request(url) as sent:
        await page.get_by_role("button", name="Send").click()
    assert (await sent.value).headers["idempotency-key"] == keys[0]
    await expect(page.locator("#team-thread .message")).to_have_count(1)
    await expect(error).to_be_hidden()
    await expect(box).to_have_value("")

    # The server's refusal (no one else on the team is a nurse) shows next to the composer; text kept.
    await box.fill("Nursing: please double-check")
    await page.get_by_label("Urgent: ask to acknowledge").check()
    await page.locator("#team-thread").get_by_label("Nursing", exact=True).check()
    async with page.expect_request(url) as again:
        await page.get_by_role("button", name="Send").click()
    assert (await again.value).headers["idempotency-key"] != keys[0]
    await expect(error).to_contain_text("No one else on the care team is in nurse")
    await expect(box).to_have_value("Nursing: please double-check")
    assert nurse.script_errors == []


async def test_edits_and_removals_show_live(signed_in: SignedIn, db: Any) -> None:
    t = await make_team(db)
    nurse, lead = await signed_in(t.usernames["nurse"]), await signed_in(t.usernames["lead"])
    await open_board(nurse.page, t.plan_id)
    await open_board(lead.page, t.plan_id)
    await nurse.page.locator("#thread-body").fill("Block at 9")
    await nurse.page.get_by_role("button", name="Send").click()
    mine = nurse.page.locator("#team-thread .message").last
    await expect(mine).to_contain_text("Block at 9")

    await mine.get_by_role("button", name="Edit").click()
    await nurse.page.get_by_label("Edit your message").fill("Block at **10**")
    await mine.get_by_role("button", name="Save").click()
    theirs = lead.page.locator("#team-thread .message").last
    await expect(theirs.locator('[data-field="html"] strong')).to_have_text("10")
    await expect(theirs.locator('[data-part="edited"]')).to_be_visible()

    # The team's lead removes it; the nurse sees it removed.
    lead.page.once("dialog", lambda dialog: dialog.accept())
    await theirs.get_by_role("button", name="Remove").click()
    await expect(mine.locator('[data-part="removed"]')).to_have_text("Message removed")
    await expect(mine.locator('[data-field="html"]')).to_be_hidden()
    await expect(mine.get_by_role("button", name="Edit")).to_be_hidden()
    await never_reloaded(nurse.page)
    assert nurse.script_errors == [] and lead.script_errors == []
