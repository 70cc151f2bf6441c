"""A referral the EMR sends over FHIR reaches the psychology pool live: the psychologist has My work open;
the EMR's interface account POSTs a ServiceRequest for the physician it names (twice, as a retried message
would, with If-None-Exist); her list shows one referral by itself."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import expect
from sqlmodel import func, select

from careteam.core.vocab import ClinicRole, Discipline
from careteam.fhir.codes import FHIR_JSON
from careteam.patients.codes import TeamRole
from careteam.patients.tables import PatientShare
from careteam.referrals.tables import Referral
from tests.browser.conftest import SignedIn
from tests.browser.test_new_pages import passes_axe_and_fits
from tests.factories import make_patient, make_plan, make_user

pytestmark = pytest.mark.browser

LIVE_DEADLINE_MS = 15_000


async def test_a_referral_from_the_emr_shows_in_the_pools_work_once(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    async with db() as s:
        await make_user(s, "psy_fhir", discipline=Discipline.psychologist)
        physician = await make_user(s, "dr_fhir", discipline=Discipline.physician)
        lead = await make_user(s, "lead_fhir", discipline=Discipline.ipm_lead)
        emr = await make_user(s, "emr_fhir", role=ClinicRole.integration)
        patient = await make_patient(s, members=[(lead, TeamRole.lead), (physician, TeamRole.member)])
        plan = await make_plan(s, patient)
        s.add(PatientShare(patient_id=patient.id or 0, user_id=emr.id or 0, shared_by_id=lead.id or 0))
    page = (await signed_in("psy_fhir")).page
    await page.goto("/work")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(page.locator(".work-row")).to_have_count(0)

    referral = {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "priority": "urgent",
        "subject": {"reference": f"Patient/{patient.id}"},
        "basedOn": [{"reference": f"CarePlan/{plan.id}"}],
        "requester": {"reference": f"Practitioner/{physician.id}"},
        "performerType": {"coding": [{"system": "http://snomed.info/sct", "code": "59944000"}]},
        "reasonCode": [{"text": "Pre-SCS psychological evaluation"}],
        "identifier": [{"system": "urn:oid:1.2.3.4", "value": "ORD-1"}],
    }
    headers = {
        **await login("emr_fhir"),
        "Content-Type": FHIR_JSON,
        "If-None-Exist": "identifier=urn:oid:1.2.3.4|ORD-1",
    }
    first = await client.post("/fhir/R4/ServiceRequest", json=referral, headers=headers)
    assert first.status_code == 201, first.text
    row = page.locator(f'[data-key="referral-{first.json()["id"]}"]')
    await expect(row).to_be_visible(timeout=LIVE_DEADLINE_MS)
    await expect(row).to_contain_text("Pre-SCS psychological evaluation")

    again = await client.post("/fhir/R4/ServiceRequest", json=referral, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    await page.reload()
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(page.locator('.work-row[data-kind="referral"]')).to_have_count(1)
    async with db() as s:
        assert (await s.exec(select(func.count()).select_from(Referral))).one() == 1


async def test_the_lead_shares_a_patient_with_the_emr_by_keyboard(
    signed_in: SignedIn, db: Any, login: Any
) -> None:
    async with db() as s:
        lead = await make_user(s, "lead_share", discipline=Discipline.ipm_lead)
        await make_user(s, "emr_share", role=ClinicRole.integration)
        patient = await make_patient(s, members=[(lead, TeamRole.lead)])
    page = (await signed_in("lead_share")).page
    await page.goto(f"/patients/{patient.id}")
    section = page.locator("#emr-access")
    await expect(section.get_by_text("Not shared with any EMR interface.")).to_be_visible()
    choose = section.get_by_label("Share with")
    await choose.focus()  # the page is long: the field by focus, then the keyboard alone
    await page.keyboard.press("ArrowDown")  # the one EMR interface not yet shared with
    await expect(choose).not_to_have_value("")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(section.locator(".share-list__row")).to_have_count(1)
    await passes_axe_and_fits(page)
    async with db() as s:
        shared = (await s.exec(select(PatientShare).where(PatientShare.patient_id == patient.id))).all()
    assert len(shared) == 1
    # Stop sharing: the account loses the patient at once (the page asks first).
    page.once("dialog", lambda d: d.accept())
    await section.get_by_role("button", name="Stop sharing with").click()
    await expect(section.get_by_text("Not shared with any EMR interface.")).to_be_visible()
