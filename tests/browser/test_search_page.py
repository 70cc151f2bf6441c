"""The search page in a real browser: the nurse searches from the header's box by keyboard, finds her team's
message (the word marked, markup in it shown as text, no script run) and not the other team's, follows a
result to its place on the board; axe finds nothing serious on any state of the page, and it fits a 390 px
phone and a 1920 px wall screen without sideways scrolling."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import SignedIn
from tests.browser.test_new_pages import passes_axe_and_fits, tab_to
from tests.messaging.world import make_world, post

pytestmark = pytest.mark.browser

WORD = "gabapentin"
HOSTILE = "<img src=x onerror=alert(1)> gabapentin <script>alert(2)</script> held tonight"


async def test_search_from_the_header_finds_her_teams_message_as_text(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    nurse, outsider = await login(w.names["nurse"]), await login(w.names["outsider"])
    mine = await post(client, nurse, f"/plans/{w.plan_id}", HOSTILE)
    assert mine.status_code == 201, mine.text
    theirs = await post(client, outsider, f"/plans/{w.other_plan_id}", f"Team B stops {WORD} today")
    assert theirs.status_code == 201, theirs.text
    message_id = mine.json()["id"]

    who = await signed_in(w.names["nurse"])
    page = who.page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    await page.goto("/work")

    # From the header's search box, by keyboard alone.
    box = page.get_by_role("searchbox", name="Search messages and tasks")
    await tab_to(page, box)
    await page.keyboard.type(WORD)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(rf"/search\?q={WORD}$"))
    results = page.locator(".search-result")
    await expect(results).to_have_count(1)
    result = page.locator(f'[data-key="message-{message_id}"]')
    snippet = result.locator(".search-result__snippet")
    await expect(snippet).to_contain_text("<script>alert(2)</script>")
    await expect(snippet.locator("mark")).to_have_text(WORD)
    await expect(result).to_contain_text("Ellen Marsh")
    await expect(result).to_contain_text("Message")
    await expect(page.get_by_text("Team B stops")).to_have_count(0)
    await passes_axe_and_fits(page)

    # Follow the result to its place, by keyboard.
    await tab_to(page, snippet)
    await expect(snippet).to_have_attribute("href", f"/plans/{w.plan_id}#message-{message_id}")
    await page.keyboard.press("Enter")
    # The board (its script may take the anchor off the address once it has used it).
    await expect(page).to_have_url(re.compile(rf"/plans/{w.plan_id}(#message-{message_id})?$"))

    # No results, no query, a query too long: each says so, and passes axe.
    await page.goto("/search?q=titration")
    await expect(page.locator("#search-none")).to_be_visible()
    await passes_axe_and_fits(page)
    await page.goto("/search")
    await expect(page.locator("#search-empty")).to_be_visible()
    await passes_axe_and_fits(page)
    response = await page.goto("/search?q=" + "x" * 201)
    assert response is not None and response.status == 422
    await expect(page.locator("#search-q-error")).to_be_visible()
    await expect(page.get_by_role("searchbox", name="Search messages and tasks").nth(1)).to_have_attribute(
        "aria-invalid", "true"
    )
    await passes_axe_and_fits(page)
    assert dialogs == [] and who.script_errors == []
