"""The Medications panel in a real browser: the physician adds oxycodone by keyboard on the board and the
panel shows its MME/day, the caution flag and who must acknowledge; the lead's board follows live as the
nurse acknowledges and a fentanyl patch takes the total to 120 (high); a refused form comes back naming
its field with nothing stored; a Stop button stops it; axe finds nothing serious and the board fits a phone
and a wall screen."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import SignedIn
from tests.browser.test_new_pages import passes_axe_and_fits
from tests.medications.world import make_world
from tests.referrals.world import count_events

pytestmark = pytest.mark.browser


async def test_add_by_keyboard_and_follow_the_total_and_acknowledgements_live(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    lead = await signed_in(w.names["lead"])
    watching = lead.page
    await watching.goto(f"/plans/{w.plan_id}")
    await expect(watching.locator("#board-page")).to_have_attribute("data-ready", "true")
    await expect(watching.locator("#mme-total")).to_contain_text("0 MME/day")

    physician = await signed_in(w.names["physician"])
    page = physician.page
    await page.goto(f"/plans/{w.plan_id}")
    await expect(page.locator("#board-page")).to_have_attribute("data-ready", "true")
    panel = page.locator("#medications")

    # A refused form first: a patch dosed every 6 hours comes back naming the frequency; nothing stored.
    before = await count_events(db, w.plan_id)
    await panel.locator(".medication-add > summary").focus()
    await page.keyboard.press("Enter")
    await page.get_by_label("Drug").focus()
    await page.get_by_label("Drug").select_option("fentanyl-transdermal")
    await page.keyboard.press("Tab")
    await page.keyboard.type("25")
    await page.get_by_label("Frequency", exact=True).select_option("q6h")
    await panel.get_by_role("button", name="Add", exact=True).press("Enter")
    await expect(page.locator("#med-add-frequency-error")).to_contain_text("continuous")
    assert await count_events(db, w.plan_id) == before

    await page.goto(f"/plans/{w.plan_id}")
    await expect(page.locator("#board-page")).to_have_attribute("data-ready", "true")
    await panel.locator(".medication-add > summary").focus()
    await page.keyboard.press("Enter")
    await page.get_by_label("Drug").focus()
    await page.get_by_label("Drug").select_option("oxycodone")
    await page.keyboard.press("Tab")
    await page.keyboard.type("10")
    await page.get_by_label("Frequency", exact=True).select_option("q6h")
    await panel.get_by_role("button", name="Add", exact=True).press("Enter")
    card = panel.locator("li.medication").first
    await expect(card).to_contain_text("Oxycodone")
    await expect(card).to_contain_text("60 MME/day")
    await expect(panel.locator("#mme-total")).to_contain_text("50 or more MME/day: caution")
    # No pharmacist on this team: the nurse and a physician other than the author; none but the nurse here.
    await expect(card.locator("[data-part=acks]")).to_contain_text("Awaiting acknowledgement")

    # The lead's board follows: the card, then the nurse's acknowledgement, then a patch to 120 (high).
    other = watching.locator("#medications")
    await expect(other.locator("li.medication")).to_have_count(1, timeout=3000)
    await expect(other.locator("#mme-total")).to_contain_text("caution")
    nurse = await login(w.names["nurse"])
    meds = (await client.get(f"/api/v1/plans/{w.plan_id}/medications", headers=nurse)).json()["items"]
    waiting = [a["user_id"] for a in meds[0]["safety"]["waiting_for"]]
    assert waiting == [w.id("nurse")]
    r = await client.post(f"/api/v1/messages/{meds[0]['safety']['message_id']}/ack", headers=nurse)
    assert r.status_code == 200, r.text
    await expect(other.locator("[data-part=acks]")).to_contain_text("Acknowledged", timeout=3000)
    await expect(card.locator("[data-part=acks]")).to_contain_text("Acknowledged", timeout=3000)
    r = await client.post(
        f"/api/v1/plans/{w.plan_id}/medications",
        json={"drug": "fentanyl-transdermal", "dose": 25, "frequency": "continuous"},
        headers=await login(w.names["physician"]),
    )
    assert r.status_code == 201, r.text
    await expect(other.locator("#mme-total")).to_contain_text("120 MME/day", timeout=3000)
    await expect(other.locator("#mme-total")).to_contain_text("90 or more MME/day: high")
    await expect(panel.locator("#mme-total")).to_contain_text("high", timeout=3000)

    # Stop the oxycodone with its Stop button, by keyboard: the total falls to 60.
    oxy = panel.locator("li.medication", has_text="Oxycodone")
    await oxy.get_by_role("button", name="Stop Oxycodone").focus()
    await page.keyboard.press("Enter")
    await expect(panel.locator("#mme-total")).to_contain_text("60 MME/day")
    await expect(other.locator("#mme-total")).to_contain_text("60 MME/day", timeout=3000)

    await passes_axe_and_fits(page)
    assert physician.script_errors == [] and lead.script_errors == []
