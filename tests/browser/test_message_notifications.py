"""Notifications about messages in the inbox, in a real browser: a mention and an urgent message each show
their title, the message's text as text (markup and all, kept to a few lines however long), and a link to
the message; a long unbroken word (a pasted address) does not push the page sideways on a phone."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import SignedIn
from tests.browser.test_new_pages import passes_axe_and_fits
from tests.messaging.world import make_world, post

pytestmark = pytest.mark.browser

ADDRESS = "https://pacs.example.org/studies/" + "1.2.840.113619.2" * 12
HOSTILE = "<img src=x onerror=alert(1)>"


async def test_mention_and_urgent_notifications_read_as_text_and_link_to_the_message(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    mention = await post(
        client, lead, f"/plans/{w.plan_id}", f"@physician MRI is up {ADDRESS} {HOSTILE} " + "Reviewed. " * 150
    )
    assert mention.status_code == 201, mention.text
    urgent = await client.post(
        f"/api/v1/plans/{w.plan_id}/messages",
        json={"body": "Hold apixaban 48 h before Thursday's block", "urgent": {"users": [w.id("physician")]}},
        headers=lead,
    )
    assert urgent.status_code == 201, urgent.text

    who = await signed_in(w.names["physician"])
    page = who.page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    await page.goto("/notifications")
    rows = page.locator(".inbox__item")
    await expect(rows).to_have_count(2)
    newest, older = rows.nth(0), rows.nth(1)
    await expect(newest.locator(".inbox__title")).to_have_text(
        f"Urgent from {urgent.json()['author']['display_name']}: please acknowledge"
    )
    await expect(newest.locator(".inbox__title")).to_have_attribute(
        "href", f"/plans/{w.plan_id}#message-{urgent.json()['id']}"
    )
    await expect(newest.locator(".inbox__body")).to_have_text("Hold apixaban 48 h before Thursday's block")
    await expect(older.locator(".inbox__title")).to_contain_text("mentioned you in")
    await expect(older.locator(".inbox__title")).to_have_attribute(
        "href", f"/plans/{w.plan_id}#message-{mention.json()['id']}"
    )
    body = older.locator(".inbox__body")
    await expect(body).to_contain_text(HOSTILE)
    await passes_axe_and_fits(page)
    # A long message is kept to a few lines in the list (the link opens all of it).
    height = await body.evaluate("el => el.getBoundingClientRect().height")
    line = await body.evaluate("el => parseFloat(getComputedStyle(el).lineHeight)")
    assert height <= 4 * line, (height, line)
    assert dialogs == [] and who.script_errors == []
