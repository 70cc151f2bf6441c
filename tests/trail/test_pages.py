"""The audit trail page names patients by MRN and name (a read of them, itself audited); the favicon is
served where browsers ask for it."""

from __future__ import annotations

from fastapi import FastAPI
from sqlmodel import select

from careteam.audit.tables import AuditEntry
from careteam.core.vocab import ClinicRole, Discipline
from careteam.db.engine import unit_of_work
from tests.web.test_pages import browser, make_patient, make_user, signed_in


async def test_the_audit_page_shows_mrn_and_name_and_audits_that_read(app: FastAPI) -> None:
    admin = await make_user(app, "ada.admin", Discipline.physician, ClinicRole.admin)
    lead = await make_user(app, "lee.lead", Discipline.ipm_lead)
    patient_id = await make_patient(app, lead, "IPM-100233", "Maria Alvarez")
    other_id = await make_patient(app, lead, "IPM-100234", "James O'Neill")
    async with signed_in(app, admin) as client:
        page = await client.get("/admin/audit", params={"action": "create"})
    assert page.status_code == 200
    assert (
        f'<a href="/patients/{patient_id}"><span class="mono">IPM-100233</span> Maria Alvarez</a>'
        in page.text
    )
    assert "IPM-100234</span> James O&#39;Neill" in page.text
    assert '<span class="mono">Patient no.' not in page.text
    async with unit_of_work(app.state.sessions) as session:
        reads = list(
            await session.exec(
                select(AuditEntry).where(
                    AuditEntry.user_id == admin.user_id,
                    AuditEntry.action == "read",
                    AuditEntry.resource_type == "patient",
                )
            )
        )
    assert {e.patient_id for e in reads} == {patient_id, other_id}


async def test_the_favicon_is_served_at_favicon_ico_and_linked_from_every_page(app: FastAPI) -> None:
    async with browser(app) as client:
        icon = await client.get("/favicon.ico")
        linked = await client.get("/static/favicon.svg")
        login = await client.get("/login")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.content == linked.content and b"<svg" in icon.content
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in login.text
