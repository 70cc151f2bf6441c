"""Every page a clinician or an administrator uses, in a real browser at a desk (1440 px) and on a phone
(390 px): axe finds nothing serious or critical, no page scrolls sideways on the phone, and the lead's
patient page keeps its care team's Remove buttons (the accounts page its Deactivate buttons) on the screen.
On a 1440x900 screen, a 25-task plan with every lane collapsed but one shows that lane's cards above the
fold."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from careteam.core.vocab import ClinicRole, Discipline
from careteam.patients.codes import TeamRole
from careteam.protocols.demo import TEMPLATES
from tests.browser.axe import serious_axe_findings
from tests.browser.conftest import Clinician, SignedIn
from tests.factories import make_patient, make_plan, make_user
from tests.live import LiveServer

pytestmark = pytest.mark.browser

DESK: ViewportSize = {"width": 1440, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


@dataclass
class Clinic:
    lead: str
    lead_id: int
    nurse: str
    nurse_id: int
    patient_id: int
    plan_id: int
    referral_id: int = 0
    conversation_id: int = 0
    conference_id: int = 0
    template_id: int = 0


FACET = next(t for t in TEMPLATES if t["name"] == "Lumbar facet pathway")


async def make_clinic(db: Any) -> Clinic:
    """A lead who is also the administrator, a nurse and an OT on one patient's team, with one plan; a
    psychologist off the team (for a referral's pool)."""
    async with db() as s:
        lead = await make_user(s, discipline=Discipline.ipm_lead, role=ClinicRole.admin)
        nurse = await make_user(s, discipline=Discipline.nurse)
        ot = await make_user(s, discipline=Discipline.occupational_therapist)
        await make_user(s, discipline=Discipline.psychologist)
        patient = await make_patient(
            s,
            members=[(lead, TeamRole.lead), (nurse, TeamRole.member), (ot, TeamRole.member)],
            name="Ellen Marsh",
        )
        plan = await make_plan(s, patient, title="Chronic low back pain plan")
        return Clinic(
            lead.username, lead.id or 0, nurse.username, nurse.id or 0, patient.id or 0, plan.id or 0
        )


async def fill_the_lists(
    client: httpx.AsyncClient, c: Clinic, lead: dict[str, str], nurse: dict[str, str]
) -> None:
    """Something on every page: a referral, a conversation from the nurse, a team-thread message naming the
    lead (a notification), a task assigned to the lead (My work), a case conference with the nurse and the
    plan on its agenda (the conference list, its room and its summary), scores (the outcomes page's
    charts), an opioid and an anticoagulant with its hold (the Medications panel and page), a protocol
    template applied to the plan (the protocols pages, the board's Protocols panel)."""
    for med in (
        {"drug": "oxycodone", "dose": 10, "frequency": "q6h", "note": "Taper step 1 of 4"},
        {
            "drug": "apixaban",
            "dose": 5,
            "frequency": "bid",
            "hold_days": 3,
            "hold_note": "Hold before the MBB",
        },
    ):
        r = await client.post(f"/api/v1/plans/{c.plan_id}/medications", json=med, headers=lead)
        assert r.status_code == 201, r.text
    r = await client.post("/api/v1/templates", json=FACET, headers=lead)
    assert r.status_code == 201, r.text
    c.template_id = int(r.json()["id"])
    r = await client.post(
        f"/api/v1/plans/{c.plan_id}/apply-template", json={"template_id": c.template_id}, headers=lead
    )
    assert r.status_code == 201, r.text
    for body in ({"measure": "peg", "items": [7, 6, 8]}, {"measure": "nrs", "value": 6}):
        r = await client.post(f"/api/v1/plans/{c.plan_id}/measures", json=body, headers=nurse)
        assert r.status_code == 201, r.text
    r = await client.post(
        "/api/v1/referrals",
        json={
            "plan_id": c.plan_id,
            "discipline": "psychologist",
            "reason": "Pre-SCS psychological evaluation",
        },
        headers=lead,
    )
    assert r.status_code == 201, r.text
    c.referral_id = int(r.json()["id"])
    r = await client.post(
        "/api/v1/conversations",
        json={
            "participants": [c.lead_id],
            "subject": "Ellen Marsh after the MBB",
            "patient_id": c.patient_id,
            "body": "Pain diary shows **60% relief** for six hours; shall we book the second block?",
        },
        headers=nurse,
    )
    assert r.status_code == 201, r.text
    c.conversation_id = int(r.json()["id"])
    r = await client.post(
        f"/api/v1/plans/{c.plan_id}/messages",
        json={"body": f"@{c.lead} the UDS is back: consistent with the prescribed medication."},
        headers=nurse,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/api/v1/plans/{c.plan_id}/tasks",
        json={"title": "Opioid agreement renewal", "discipline": "ipm_lead", "assignee_id": c.lead_id},
        headers=lead,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        "/api/v1/conferences",
        json={
            "title": "Spine MDT, Thursday",
            "starts_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            "attendee_ids": [c.nurse_id],
            "items": [{"plan_id": c.plan_id, "reason": "No PEG improvement after 12 weeks"}],
        },
        headers=lead,
    )
    assert r.status_code == 201, r.text
    c.conference_id = int(r.json()["id"])


async def add_tasks(
    client: httpx.AsyncClient, headers: dict[str, str], plan_id: int, lanes: dict[str, int]
) -> None:
    for discipline, count in lanes.items():
        for n in range(count):
            r = await client.post(
                f"/api/v1/plans/{plan_id}/tasks",
                json={
                    "title": f"{discipline.replace('_', ' ').capitalize()} task {n + 1}",
                    "discipline": discipline,
                },
                headers=headers,
            )
            assert r.status_code == 201, r.text


# The elements that reach past the window's right edge (the outermost of each), to name the culprit.
OVERFLOWING = """() => [...document.querySelectorAll("body *")]
    .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
    .filter((el) => !(el.parentElement.getBoundingClientRect().right > window.innerWidth + 0.5))
    .slice(0, 5).map((el) => el.tagName.toLowerCase() + "." + [...el.classList].join("."))"""


async def scrolls_sideways(page: Page) -> str | None:
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if widths[0] > widths[1]:
        culprits = await page.evaluate(OVERFLOWING)
        return f"{page.url} scrolls sideways: {widths[0]} px wide in a {widths[1]} px window: {culprits}"
    return None


def signed_in_pages(c: Clinic) -> list[str]:
    return [
        "/patients",
        f"/patients/{c.patient_id}",
        f"/plans/{c.plan_id}",
        f"/plans/{c.plan_id}/outcomes",
        f"/plans/{c.plan_id}/medications",
        "/work",
        "/admin/audit",
        "/admin/users",
        "/notifications",
        "/referrals",
        f"/referrals/{c.referral_id}",
        "/search?q=UDS",
        "/messages",
        f"/messages/{c.conversation_id}",
        "/conferences",
        f"/conferences/{c.conference_id}",
        f"/conferences/{c.conference_id}/summary",
        "/templates",
        "/templates/new",
        f"/templates/{c.template_id}",
    ]


async def ready(page: Page, path: str) -> None:
    await page.goto(path)
    if path.endswith("/outcomes"):
        await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    elif path.endswith("/medications"):
        await expect(page.locator("#mme-total")).to_be_visible()
    elif path.startswith("/plans/"):
        await expect(page.locator("#board-page")).to_have_attribute("data-ready", "true")
    if re.fullmatch(r"/conferences/\d+", path):
        await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")


@dataclass
class Visitors:
    """The clinic, its lead (signed in, also the administrator) and an anonymous page (for /login)."""

    clinic: Clinic
    lead: Clinician
    anonymous: Page


@pytest.fixture
async def visitors(
    signed_in: SignedIn,
    browser: Browser,
    live_server: LiveServer,
    client: httpx.AsyncClient,
    db: Any,
    login: Any,
) -> AsyncIterator[Visitors]:
    c = await make_clinic(db)
    lead_headers = await login(c.lead)
    await add_tasks(client, lead_headers, c.plan_id, {"nurse": 2, "occupational_therapist": 2})
    await fill_the_lists(client, c, lead_headers, await login(c.nurse))
    lead = await signed_in(c.lead)
    anonymous = await browser.new_context(base_url=live_server.url)
    try:
        yield Visitors(c, lead, await anonymous.new_page())
    finally:
        await anonymous.close()


async def test_every_page_passes_axe_at_a_desk_and_on_a_phone(visitors: Visitors) -> None:
    c, lead, login_page = visitors.clinic, visitors.lead, visitors.anonymous
    findings: list[str] = []
    for size in (DESK, PHONE):
        await login_page.set_viewport_size(size)
        await login_page.goto("/login")
        findings += [f"/login at {size['width']}: {f}" for f in await serious_axe_findings(login_page)]
        await lead.page.set_viewport_size(size)
        for path in signed_in_pages(c):
            await ready(lead.page, path)
            findings += [f"{path} at {size['width']}: {f}" for f in await serious_axe_findings(lead.page)]
    assert not findings, "\n".join(findings)
    assert lead.script_errors == []


async def test_no_page_scrolls_sideways_on_a_phone(visitors: Visitors) -> None:
    c, lead, login_page = visitors.clinic, visitors.lead, visitors.anonymous
    await login_page.set_viewport_size(PHONE)
    await login_page.goto("/login")
    wide = [await scrolls_sideways(login_page)]
    await lead.page.set_viewport_size(PHONE)
    for path in signed_in_pages(c):
        await ready(lead.page, path)
        wide.append(await scrolls_sideways(lead.page))
    bad = [w for w in wide if w]
    assert not bad, "\n".join(bad)

    # The lead's patient page: every Remove button of the care team is on the screen, whole; so is every
    # Deactivate button on the accounts page.
    for path, name in [(f"/patients/{c.patient_id}", "Remove"), ("/admin/users", "Deactivate")]:
        await ready(lead.page, path)
        buttons = lead.page.get_by_role("button", name=re.compile(f"^{name}"))
        assert await buttons.count() >= 2, path
        for n in range(await buttons.count()):
            await buttons.nth(n).scroll_into_view_if_needed()
            box = await buttons.nth(n).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (
                path,
                n,
                box,
            )

    # The board on a phone: one column at a time, chosen with tabs, each showing every lane's cards.
    await ready(lead.page, f"/plans/{c.plan_id}")
    tabs = lead.page.get_by_role("tab")
    await expect(tabs.first).to_be_visible()
    todo = lead.page.locator('#lane-nurse .cell[data-column="todo"]')
    in_progress = lead.page.locator('#lane-nurse .cell[data-column="in_progress"]')
    await expect(todo).to_be_visible()
    await expect(in_progress).to_be_hidden()
    await lead.page.get_by_role("tab", name="In progress").click()
    await expect(lead.page.get_by_role("tab", name="In progress")).to_have_attribute("aria-selected", "true")
    await expect(in_progress).to_be_visible()
    await expect(todo).to_be_hidden()
    await expect(
        lead.page.locator('#lane-occupational_therapist .cell[data-column="in_progress"]')
    ).to_be_visible()
    assert await scrolls_sideways(lead.page) is None
    # By keyboard: the arrow keys go from tab to tab, and the column shown follows; the change is said.
    await lead.page.keyboard.press("ArrowRight")
    on_hold = lead.page.get_by_role("tab", name="On hold")
    await expect(on_hold).to_be_focused()
    await expect(on_hold).to_have_attribute("aria-selected", "true")
    await expect(lead.page.locator('#lane-nurse .cell[data-column="on_hold"]')).to_be_visible()
    await expect(in_progress).to_be_hidden()
    await expect(lead.page.locator("#board-announcer")).to_have_text("On hold: 0 tasks.")
    assert lead.script_errors == []


async def test_a_25_task_plan_with_all_lanes_collapsed_but_one_shows_its_cards_above_the_fold(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    c = await make_clinic(db)
    lanes = {
        "physician": 5,
        "nurse": 5,
        "physical_therapist": 5,
        "psychologist": 5,
        "occupational_therapist": 5,
    }
    await add_tasks(client, await login(c.lead), c.plan_id, lanes)
    lead = await signed_in(c.lead)
    page = lead.page
    await page.set_viewport_size(DESK)
    await ready(page, f"/plans/{c.plan_id}")
    assert await page.locator(".card").count() == 25

    # Compact cards, and every lane collapsed but the OT's (its five tasks all in To do, one above another).
    density = page.locator("[data-action='toggle-density']")
    await density.click()
    await expect(density).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#board")).to_have_class(re.compile(r"\bboard--compact\b"))
    others = page.locator(".lane:not(#lane-occupational_therapist) [data-action='toggle-lane']")
    assert await others.count() == 5  # the lead's lane has no tasks but is there
    for n in range(await others.count()):
        await others.nth(n).click()
        await expect(others.nth(n)).to_have_attribute("aria-expanded", "false")
    await expect(page.locator("#lane-nurse .card").first).to_be_hidden()
    await expect(page.locator("#board-announcer")).to_contain_text("lane collapsed")

    # Both are remembered for this user and plan: a reload keeps them.
    await ready(page, f"/plans/{c.plan_id}")
    await expect(page.locator("#lane-nurse [data-action='toggle-lane']")).to_have_attribute(
        "aria-expanded", "false"
    )
    await expect(page.locator("[data-action='toggle-density']")).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#lane-occupational_therapist [data-action='toggle-lane']")).to_have_attribute(
        "aria-expanded", "true"
    )
    await page.evaluate("window.scrollTo(0, 0)")
    cards = page.locator("#lane-occupational_therapist .card")
    assert await cards.count() == 5
    for n in range(5):
        box = await cards.nth(n).bounding_box()
        assert box is not None and box["y"] + box["height"] <= DESK["height"], (n, box)

    # Two lanes open make the board taller than the window: its column heads stay on top while it scrolls.
    await page.locator("#lane-nurse [data-action='toggle-lane']").click()
    await expect(page.locator("#lane-nurse .card").first).to_be_visible()
    lanes_top = await page.evaluate(
        "document.getElementById('board-lanes').getBoundingClientRect().top + scrollY"
    )
    await page.evaluate(f"window.scrollTo(0, {lanes_top} + 150)")
    head = await page.locator(".board__columns").bounding_box()
    assert head is not None and 0 <= head["y"] < 5, head
    assert lead.script_errors == []
