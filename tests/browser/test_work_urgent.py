"""An urgent message on My work in a real browser: the nurse asks the physician to acknowledge (through the
API); it is at the top of his My work, still there after a reload, and leaves it when he acknowledges it
there, in place (no reload), by keyboard, with his focus moved on sensibly; the nurse sees his
acknowledgement on the message.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from careteam.core.vocab import Discipline
from careteam.patients.codes import TeamRole
from tests.browser.axe import serious_axe_findings
from tests.browser.conftest import SignedIn
from tests.factories import make_patient, make_plan, make_user

pytestmark = pytest.mark.browser

APIXABAN = "Hold apixaban 48 h before Thursday's medial branch block — please confirm"
HOSTILE = "UDS unexpected result <img src=x onerror=window.pwned=1>: discuss before next prescription"


async def _urgent_for_the_physician(
    db: Any, client: httpx.AsyncClient, login: Any, tag: str, bodies: list[str]
) -> tuple[int, int, dict[str, str], list[int]]:
    """Ellen's care team: ``doc_<tag>`` (her lead, a physician) and ``nurse_<tag>``, who asks him to
    acknowledge each of ``bodies`` (through the API). Gives the plan's id, his,
    her headers and the messages' ids."""
    async with db() as s:
        nurse = await make_user(s, f"nurse_{tag}", discipline=Discipline.nurse)
        physician = await make_user(s, f"doc_{tag}", discipline=Discipline.physician)
        patient = await make_patient(
            s, members=[(physician, TeamRole.lead), (nurse, TeamRole.member)], name="Ellen Marsh"
        )
        plan = await make_plan(s, patient)
    as_nurse = await login(f"nurse_{tag}")
    posted = []
    for body in bodies:
        r = await client.post(
            f"/api/v1/plans/{plan.id}/messages",
            json={"body": body, "urgent": {"users": [physician.id]}},
            headers=as_nurse,
        )
        assert r.status_code == 201, r.text
        posted.append(r.json()["id"])
    return plan.id or 0, physician.id or 0, as_nurse, posted


async def test_an_urgent_message_stays_on_his_work_until_he_acknowledges_it_there(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    plan_id, physician_id, as_nurse, posted = await _urgent_for_the_physician(
        db, client, login, "urgent", [APIXABAN, HOSTILE]
    )

    doctor = await signed_in("doc_urgent")
    page = doctor.page
    await page.goto("/work")
    await page.reload()  # still there after a reload: it waits for him, not for a page view
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    urgent = page.locator("#work-urgent")
    rows = urgent.locator(".work-row")
    # At the top of the page, above every group; oldest first; markup in a message stays text.
    await expect(rows).to_have_count(2)
    await expect(urgent.locator('[data-field="count"]')).to_have_text("2")
    first, second = (page.locator(f'[data-key="message-{m}"]') for m in posted)
    await expect(first.locator('[data-field="text"]')).to_have_text(APIXABAN)
    await expect(second.locator('[data-field="text"]')).to_have_text(HOSTILE)
    await expect(first.locator('[data-field="text"]')).to_have_attribute(
        "href", f"/plans/{plan_id}#message-{posted[0]}"
    )
    top = await page.evaluate(
        "document.querySelector('#work-urgent').compareDocumentPosition("
        "document.querySelector('#work-groups')) & Node.DOCUMENT_POSITION_FOLLOWING"
    )
    assert top
    assert await serious_axe_findings(page) == []
    await page.evaluate("window.sameDocument = true")

    # By keyboard: the button names what it acknowledges; Enter posts it in place.
    button = page.get_by_role("button", name=f"Acknowledge urgent message: {APIXABAN}")
    await button.focus()
    await page.keyboard.press("Enter")
    await expect(first).to_have_count(0)
    await expect(page.locator("#work-ack-announce")).to_have_text("Acknowledged.")
    await expect(urgent.locator('[data-field="count"]')).to_have_text("1")
    # Focus moved to the next row's button.
    await expect(second.locator('[data-field="ack"]')).to_be_focused()

    # The nurse sees who acknowledged, on the message.
    r = await client.get(f"/api/v1/plans/{plan_id}/messages", headers=as_nurse)
    assert r.status_code == 200, r.text
    acked = next(m for m in r.json()["items"] if m["id"] == posted[0])
    assert [a["user_id"] for a in acked["acks"]] == [physician_id]
    assert acked["acknowledged"] is True

    # Acknowledged elsewhere (through the API, as from his phone): it leaves this page live too.
    r = await client.post(f"/api/v1/messages/{posted[1]}/ack", headers=await login("doc_urgent"))
    assert r.status_code == 200, r.text
    await expect(urgent).to_be_hidden()
    await expect(rows).to_have_count(0)
    assert await page.evaluate("window.sameDocument === true")
    assert await page.evaluate("window.pwned === undefined")
    assert doctor.script_errors == []

    # After a reload, nothing awaits him.
    await page.reload()
    await expect(page.locator("#work-urgent")).to_be_hidden()


async def test_acknowledge_without_script_and_an_error_in_place(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    bodies = [
        "Hold apixaban from Monday for Thursday's procedure",
        "PDMP shows a second prescriber: " + "https://pdmp.example.org/report/" + "0123456789" * 12,
    ]
    plan_id, physician_id, as_nurse, ids = await _urgent_for_the_physician(db, client, login, "form", bodies)

    doctor = await signed_in("doc_form")
    page = doctor.page
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto("/work")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # The message is removed by the nurse while his page is open: acknowledging it says so on the row.
    message = (await client.get(f"/api/v1/plans/{plan_id}/messages", headers=as_nurse)).json()["items"]
    version = next(m["version"] for m in message if m["id"] == ids[0])
    r = await client.delete(f"/api/v1/messages/{ids[0]}", headers={**as_nurse, "If-Match": f'W/"{version}"'})
    assert r.status_code == 200, r.text
    # Removing it tells no one's My work; acknowledging it then says why not (announced, as the row goes:
    # it awaits no one any more), and focus moves to the next row's button.
    row = page.locator(f'[data-key="message-{ids[0]}"]')
    await row.locator('[data-field="ack"]').click()
    await expect(page.locator("#work-ack-announce")).to_have_text("This message was removed.")
    await expect(row).to_have_count(0)
    await expect(page.locator(f'[data-key="message-{ids[1]}"] [data-field="ack"]')).to_be_focused()

    # Without script: the plain form posts, with its CSRF token, and comes back to My work.
    await page.route("**/static/js/work.js", lambda route: route.abort())
    await page.goto("/work")
    other = page.locator(f'[data-key="message-{ids[1]}"]')
    await expect(other).to_be_visible()
    await other.locator('[data-field="ack"]').click()
    await expect(page).to_have_url(f"{page.url.split('/work')[0]}/work")
    await expect(page.locator(f'[data-key="message-{ids[1]}"]')).to_have_count(0)
    r = await client.get(f"/api/v1/plans/{plan_id}/messages", headers=as_nurse)
    acked = next(m for m in r.json()["items"] if m["id"] == ids[1])
    assert [a["user_id"] for a in acked["acks"]] == [physician_id]
