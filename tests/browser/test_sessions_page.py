"""Her sessions on her account page, in a real browser: axe finds nothing serious, it fits a 390 px phone,
and she signs an API token out by keyboard alone."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import SignedIn
from tests.browser.test_new_pages import passes_axe_and_fits, tab_to
from tests.factories import make_user

pytestmark = pytest.mark.browser


async def test_she_signs_a_token_out_from_her_account_page_by_keyboard(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    async with db() as s:
        await make_user(s, "nina_nurse")
    token = await login("nina_nurse")  # an API client of hers
    page = (await signed_in("nina_nurse")).page
    await page.goto("/patients")

    # From her name in the header to her account page, by keyboard.
    await tab_to(page, page.locator('header a[href="/account/password"]'))
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/account/password$"))
    sessions = page.locator("#sessions")
    await expect(sessions.locator("tbody tr")).to_have_count(2)
    await expect(sessions.get_by_text("This browser", exact=True)).to_be_visible()
    await passes_axe_and_fits(page)

    sign_out = page.get_by_role("button", name=re.compile(r"^Sign out the API token signed in "))
    await tab_to(page, sign_out)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text("That session is signed out.")
    await expect(sessions.locator("tbody tr")).to_have_count(1)
    assert (await client.get("/api/v1/me", headers=token)).status_code == 401
    await passes_axe_and_fits(page)
