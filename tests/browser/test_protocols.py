"""Applying a protocol from the board, by keyboard: its tasks arrive on a colleague's open board by
themselves, in their lanes, the gated one saying what it waits for."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from careteam.protocols.demo import TEMPLATES
from tests.board_world import make_board
from tests.browser.axe import serious_axe_findings
from tests.browser.conftest import SignedIn
from tests.browser.test_live_board import LIVE_DEADLINE_MS, open_board

pytestmark = pytest.mark.browser

SCS = next(t for t in TEMPLATES if t["name"] == "Spinal cord stimulator trial")


async def test_a_protocol_applied_by_keyboard_arrives_on_every_board(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_board(db)
    r = await client.post("/api/v1/templates", json=SCS, headers=await login(w.lead))
    assert r.status_code == 201, r.text
    lead, nurse = await signed_in(w.lead), await signed_in(w.nurse)
    mine, theirs = await open_board(lead, w.plan_id), await open_board(nurse, w.plan_id)
    await expect(theirs.locator("#apply-form")).to_have_count(0)  # the nurse does not shape the plan

    summary = mine.locator("#protocols summary")
    await summary.focus()
    await mine.keyboard.press("Enter")
    select = mine.locator("#apply-template_id")
    await expect(select).to_be_visible()
    assert await serious_axe_findings(mine) == []
    await select.focus()
    await select.select_option(label="Spinal cord stimulator trial (version 1)")
    await mine.keyboard.press("Tab")
    await expect(mine.locator("#apply-start_date")).to_be_focused()
    await mine.keyboard.press("Tab")
    await mine.keyboard.press("Enter")
    await expect(mine.locator("#protocols")).to_contain_text("Spinal cord stimulator trial, version 1")

    title = theirs.locator(".card__title", has_text=re.compile(r"^SCS trial$"))
    trial = theirs.locator("#lane-physician .card", has=title)
    await expect(trial).to_be_visible(timeout=LIVE_DEADLINE_MS)
    await expect(trial.locator("[data-part=gates]")).to_contain_text(
        "\u201cPsychological clearance for SCS trial\u201d", timeout=LIVE_DEADLINE_MS
    )
    await expect(theirs.locator("#lane-nurse .card", has_text="Infection screen")).to_be_visible()
    await expect(
        theirs.locator("#lane-psychologist .card", has_text="Psychological clearance")
    ).to_be_visible()
    assert lead.script_errors == [] and nurse.script_errors == []
