"""Conversations in a real browser: the nurse starts one with the physician from the Messages page; his
header's Messages badge goes up by itself on another page; he opens it and sees the message; she sees "Seen
by" him live; he replies and she sees it live. Injected markup stays text. And the two pages pass axe, fit a
phone and a wall screen, and work by keyboard."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Dialog, Page, expect

from careteam.accounts.tables import User
from tests.browser.axe import serious_axe_findings
from tests.browser.conftest import SignedIn
from tests.browser.test_new_pages import SIZES, fits
from tests.referrals.world import make_world

pytestmark = pytest.mark.browser

HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


async def _live(page: Page) -> None:
    await expect(page.locator("#unread-badge")).to_have_attribute("data-state", "live")


async def _display_name(db: Any, user_id: int) -> str:
    async with db() as s:
        user = await s.get(User, user_id)
        assert user is not None
        return user.display_name


async def test_a_conversation_between_two_clinicians_is_live_both_ways(signed_in: SignedIn, db: Any) -> None:
    w = await make_world(db)
    physician_name = await _display_name(db, w.id("physician"))
    dialogs: list[str] = []

    def refuse(dialog: Dialog) -> None:
        dialogs.append(dialog.message)

    # The physician is elsewhere: his patient list.
    physician = await signed_in(w.names["physician"])
    his = physician.page
    his.on("dialog", refuse)
    await his.goto("/patients")
    await _live(his)
    badge = his.locator("#messages-badge .nav-badge__count")
    await expect(badge).to_have_text("0")

    # The nurse starts a conversation with him from the Messages page.
    nurse = await signed_in(w.names["nurse"])
    hers = nurse.page
    hers.on("dialog", refuse)
    await hers.goto("/messages")
    await hers.get_by_label(physician_name).check()
    await hers.get_by_label("Subject (optional)").fill("Ellen's sleep")
    await hers.get_by_label("First message").fill(
        f"Sleep diary uploaded, **worse nights after PT days** {HOSTILE}"
    )
    await hers.get_by_role("button", name="Start conversation").click()
    await expect(hers).to_have_url(re.compile(r"/messages/\d+$"))
    await expect(hers.locator("#chat")).to_have_attribute("data-state", "live")
    await expect(hers.locator("#seen-by")).to_be_hidden()

    # His badge goes up by itself.
    await expect(badge).to_have_text("1")
    # He opens it from the header, then from his list.
    await his.get_by_role("link", name=re.compile(r"^Messages")).click()
    await his.get_by_role("link", name="Ellen's sleep").click()
    message = his.locator(".chat-message").first
    await expect(message.locator("strong", has_text="worse nights after PT days")).to_be_visible()
    await expect(message).to_contain_text("<script>alert(2)</script>")  # shown as text, never run
    await expect(his.locator("#messages-badge .nav-badge__count")).to_have_text("0")

    # She sees that he has seen it, without reloading.
    await expect(hers.locator("#seen-by")).to_be_visible()
    await expect(hers.locator("#seen-by")).to_contain_text(physician_name)

    # He replies; she sees it arrive.
    await his.get_by_label("Your message").fill("Please record an *hourly* diary after the block")
    await his.get_by_role("button", name="Send").click()
    await expect(his.locator(".chat-message")).to_have_count(2)
    reply = hers.locator(".chat-message").nth(1)
    await expect(reply.locator("em", has_text="hourly")).to_be_visible()
    await expect(reply).to_contain_text(physician_name)

    # She edits her first message; he sees "(edited)" live.
    await hers.locator(".chat-message").first.get_by_role("button", name="Edit").click()
    await hers.get_by_label("Edit your message").fill("Sleep diary uploaded")
    await hers.get_by_role("button", name="Save").click()
    first = his.locator(".chat-message").first
    await expect(first.locator('[data-field="edited"]')).to_be_visible()
    await expect(first.locator('[data-field="body"]')).to_have_text("Sleep diary uploaded")

    assert dialogs == [] and nurse.script_errors == [] and physician.script_errors == []


async def test_the_messages_pages_pass_axe_fit_and_work_by_keyboard(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    nurse_api = await login(w.names["nurse"])
    r = await client.post(
        "/api/v1/conversations",
        json={
            "participants": [w.id("physician")],
            "patient_id": w.patient_id,
            "subject": "UDS result before the refill",
            "body": "UDS unexpected result: discuss before next prescription. " + "Long words " * 40,
        },
        headers=nurse_api,
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    await client.post(
        f"/api/v1/plans/{w.plan_id}/messages", json={"body": "@team RFA Thursday"}, headers=nurse_api
    )

    physician = await signed_in(w.names["physician"])
    page = physician.page
    for url in ("/messages", f"/messages/{cid}"):
        await page.goto(url)
        assert await serious_axe_findings(page) == [], url
        for size in SIZES.values():
            await page.set_viewport_size(size)
            await fits(page)
        await page.set_viewport_size({"width": 1280, "height": 900})

    await page.goto("/patients")
    await _live(page)

    async def tab_to(locator: Any) -> None:
        for _ in range(60):
            await page.keyboard.press("Tab")
            if await locator.evaluate("el => el === document.activeElement"):
                return
        raise AssertionError(f"Tab never reached {locator}")

    # From the header to Messages, to the conversation, to the composer, and Send: by keyboard alone.
    await tab_to(page.get_by_role("link", name=re.compile(r"^Messages")))
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/messages$"))
    await tab_to(page.get_by_role("link", name="UDS result before the refill"))
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(rf"/messages/{cid}$"))
    await tab_to(page.get_by_label("Your message"))
    await page.keyboard.type("Hold the refill until we talk")
    await tab_to(page.get_by_role("button", name="Send"))
    await page.keyboard.press("Enter")
    await expect(page.locator(".chat-message")).to_have_count(2)
    await expect(page.locator(".chat-message").nth(1)).to_contain_text("Hold the refill until we talk")
    assert physician.script_errors == []


async def test_the_messages_list_follows_new_conversations_and_plan_threads(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    physician = await signed_in(w.names["physician"])
    page = physician.page
    await page.goto("/messages")
    await _live(page)
    await expect(page.locator("#conversation-list > li")).to_have_count(0)
    nurse_api = await login(w.names["nurse"])
    r = await client.post(
        "/api/v1/conversations",
        json={
            "participants": [w.id("physician")],
            "subject": "Naloxone <b>offered</b>",
            "body": "Documented",
        },
        headers=nurse_api,
    )
    assert r.status_code == 201, r.text
    row = page.locator("#conversation-list > li")
    await expect(row).to_have_count(1)
    await expect(row.get_by_role("link", name="Naloxone <b>offered</b>")).to_be_visible()
    await expect(row).to_contain_text("1 unread")
    await client.post(
        f"/api/v1/plans/{w.plan_id}/messages", json={"body": "@team RFA Thursday"}, headers=nurse_api
    )
    await expect(page.locator("#thread-list > li")).to_have_count(1)
    await expect(page.locator("#thread-list")).to_contain_text("Team thread")
    await expect(page.locator("#messages-badge .nav-badge__count")).to_have_text("2")
    await page.get_by_role("button", name="Mark all read").click()
    await expect(page.locator("#messages-badge .nav-badge__count")).to_have_text("0")
    await expect(page.locator("#thread-list > li")).to_have_count(0)
    assert physician.script_errors == []


async def test_a_participant_taken_off_the_team_loses_the_open_conversation(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    r = await client.post(
        "/api/v1/conversations",
        json={
            "participants": [w.id("physician")],
            "patient_id": w.patient_id,
            "body": "UDS unexpected result",
        },
        headers=await login(w.names["nurse"]),
    )
    cid = r.json()["id"]
    physician = await signed_in(w.names["physician"])
    page = physician.page
    await page.goto(f"/messages/{cid}")
    await expect(page.locator("#chat")).to_have_attribute("data-state", "live")
    lead = await login(w.names["lead"])
    team = (await client.get(f"/api/v1/patients/{w.patient_id}/care-team", headers=lead)).json()
    member = next(m for m in team["members"] if m["user_id"] == w.id("physician"))
    removed = await client.delete(
        f"/api/v1/patients/{w.patient_id}/care-team/members/{member['id']}",
        headers={**lead, "If-Match": f'W/"{team["version"]}"'},
    )
    assert removed.status_code == 200
    # The access re-check ends the subscription; the page reloads and says there is no such page.
    await expect(page.locator("h1")).to_have_text("Not found")
    await expect(page.locator(".chat-message")).to_have_count(0)
