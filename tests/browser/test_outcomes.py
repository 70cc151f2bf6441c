"""Outcome measures in a real browser: the nurse records a PEG-3 by keyboard on the plan's outcomes page and
its chart and table appear; a wrong score comes back with its field's error and stores nothing; the
physician's board header and outcomes page follow live; a score is withdrawn as entered in error and leaves
the line but stays in the table; axe finds nothing serious and the page fits a phone and a wall screen."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import SignedIn
from tests.browser.test_new_pages import passes_axe_and_fits, tab_to
from tests.referrals.world import count_events, make_world

pytestmark = pytest.mark.browser


async def test_the_nurse_records_a_peg_by_keyboard_and_the_physician_sees_it_live(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    nurse_api = await login(w.names["nurse"])
    r = await client.post(
        f"/api/v1/plans/{w.plan_id}/measures", json={"measure": "nrs", "value": 8}, headers=nurse_api
    )
    assert r.status_code == 201, r.text

    physician = await signed_in(w.names["physician"])
    board = physician.page
    await board.goto(f"/plans/{w.plan_id}")
    await expect(board.locator("#board-page")).to_have_attribute("data-ready", "true")
    sparks = board.locator("#outcome-sparks")
    await expect(sparks.locator("[data-measure=nrs]")).to_contain_text("8")
    await expect(sparks.locator("[data-measure=peg]")).to_have_count(0)
    watcher = await physician.context.new_page()
    await watcher.goto(f"/plans/{w.plan_id}/outcomes")
    await expect(watcher.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(watcher.locator("#measure-peg")).to_have_count(0)

    nurse = await signed_in(w.names["nurse"])
    page = nurse.page
    await page.goto(f"/plans/{w.plan_id}/outcomes")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")

    # A wrong score first: the page comes back naming the field, and nothing is stored.
    await tab_to(page, page.get_by_label("Measure", exact=True))
    await page.get_by_label("Measure", exact=True).select_option("nrs")
    await tab_to(page, page.get_by_label("Score", exact=True))
    await page.keyboard.type("11")
    await page.keyboard.press("Enter")
    await expect(page.locator("#record-value-error")).to_be_visible()
    await expect(page.get_by_label("Score", exact=True)).to_have_attribute("aria-invalid", "true")
    assert await count_events(db, w.plan_id) == 1

    # Then a PEG-3 by keyboard: the three items, Enter.
    await tab_to(page, page.get_by_label("Measure", exact=True))
    await page.get_by_label("Measure", exact=True).select_option("peg")
    await page.get_by_label("Score", exact=True).fill("")
    for label, value in (
        ("Average pain", "7"),
        ("Interference with enjoyment of life", "6"),
        ("Interference with general activity", "6"),
    ):
        field = page.get_by_label(label)
        await tab_to(page, field)
        await page.keyboard.type(value)
    await page.get_by_label("Note").fill("Worse after PT days")
    await page.get_by_label("Note").focus()
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    peg = page.locator("#measure-peg")
    await expect(peg.locator("svg.trend")).to_have_attribute(
        "aria-labelledby", "chart-peg-title chart-peg-desc"
    )
    await expect(peg.locator("tbody tr")).to_have_count(1)
    await expect(peg.locator("tbody tr").first).to_contain_text("6.33")
    await expect(peg.locator("tbody tr").first).to_contain_text("7 + 6 + 6")
    await expect(peg.locator("tbody tr").first).to_contain_text("Worse after PT days")

    # The physician's board header and outcomes page follow, without a reload.
    await expect(sparks.locator("[data-measure=peg]")).to_contain_text("6.33", timeout=3000)
    await expect(watcher.locator("#measure-peg tbody tr")).to_have_count(1, timeout=3000)

    # A second NRS, then the first is withdrawn: off the line, struck through in the table.
    r = await client.post(
        f"/api/v1/plans/{w.plan_id}/measures", json={"measure": "nrs", "value": 5}, headers=nurse_api
    )
    assert r.status_code == 201, r.text
    nrs = page.locator("#measure-nrs")
    await expect(nrs.locator("tbody tr")).to_have_count(2, timeout=3000)
    await expect(nrs.locator("desc")).to_contain_text("2 scores")
    oldest = nrs.locator("tbody tr").last
    await oldest.locator("summary").focus()
    await page.keyboard.press("Enter")
    await oldest.get_by_label("Why is it wrong?").fill("Recorded on the wrong patient")
    await oldest.get_by_role("button", name="Withdraw as entered in error").press("Enter")
    await expect(nrs.locator("tbody tr").last).to_contain_text("Entered in error")
    await expect(nrs.locator("desc")).to_contain_text("one score, latest 5 (moderate)")
    await expect(sparks.locator("[data-measure=nrs]")).to_contain_text("5", timeout=3000)
    await expect(watcher.locator("#measure-nrs tbody tr").last).to_contain_text(
        "Entered in error", timeout=3000
    )

    await passes_axe_and_fits(page)
    assert nurse.script_errors == [] and physician.script_errors == []


async def test_a_plan_lent_for_a_conference_shows_no_scores(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    """Off the care team the outcomes page is not found (the board's header would not show it either)."""
    w = await make_world(db)
    r = await client.post(
        f"/api/v1/plans/{w.plan_id}/measures",
        json={"measure": "odi", "value": 40},
        headers=await login(w.names["nurse"]),
    )
    assert r.status_code == 201, r.text
    outsider = await signed_in(w.names["outsider"])
    answer = await outsider.page.goto(f"/plans/{w.plan_id}/outcomes")
    assert answer is not None and answer.status == 404
    await expect(outsider.page.get_by_text("40%")).to_have_count(0)
