"""Building a plan and resetting a password, in a real browser: the one-form plan with its period and goals
(an error by the field, then the board), a goal edited inline that every viewer sees at once, and an
administrator's reset that signs the clinician out and makes her choose her own password. axe finds nothing
serious on the forms."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Dialog, expect

from careteam.core.vocab import ClinicRole, Discipline
from tests.board_world import make_board
from tests.browser.axe import serious_axe_findings
from tests.browser.conftest import SignedIn
from tests.factories import make_user

pytestmark = pytest.mark.browser


async def test_a_plan_built_in_one_form_then_a_goal_edited_live(signed_in: SignedIn, db: Any) -> None:
    b = await make_board(db)
    lead, nurse = await signed_in(b.lead), await signed_in(b.nurse)
    page = lead.page
    await page.goto(f"/patients/{b.patient_id}")
    form = page.locator("#plan-form")
    assert await serious_axe_findings(page) == []
    await form.get_by_label("Title").fill("CRPS right hand: graded motor imagery")
    await form.get_by_label("Starts").fill("2027-01-04")
    await form.get_by_label("Ends").fill("2027-04-04")
    # Without JavaScript there are three goal rows; "Add another goal" adds a fourth.
    await form.get_by_role("button", name="Add another goal").click()
    await expect(form.locator('[data-part="goal-row"]')).to_have_count(4)
    await expect(form.get_by_label("Goal 4", exact=True)).to_be_focused()
    await form.get_by_label("Goal 1", exact=True).fill("Regain grip for daily tasks")
    await form.locator("#plan-goal-0-goal_target").fill("Grip +30%")
    await form.get_by_label("Goal 4", exact=True).fill("Sleep 6 hours most nights")
    await form.locator("#plan-goal-3-goal_due").fill("2027-02-15")
    await form.get_by_role("button", name="Open board").click()

    # Goal 1 has no due date: the form comes back with the message by its field, nothing created.
    due = page.locator("#plan-goal-0-goal_due")
    await expect(due).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_text("Goal 1: Give the goal a due date.").first).to_be_visible()
    await expect(page.locator("#plan-goal-0-goal_description")).to_have_value("Regain grip for daily tasks")
    await due.fill("2027-03-15")
    await page.locator("#plan-form").get_by_role("button", name="Open board").click()
    await expect(page).to_have_url(re.compile(r"/plans/\d+$"))
    goals = page.locator("#goal-list .goal")
    await expect(goals).to_have_count(2)
    await expect(goals.first.locator('time[data-field="goal-due"]')).to_have_attribute(
        "datetime", "2027-03-15"
    )
    plan_url = page.url

    # The nurse watches the same board while the lead edits a goal inline.
    await nurse.page.goto(plan_url)
    await expect(nurse.page.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(nurse.page.locator('#goal-list [data-action="edit-goal"]')).to_have_count(0)
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    goal = goals.first
    await goal.get_by_role("button", name=re.compile("^Edit")).click()
    edit = goal.locator('[data-part="goal-form"]')
    await expect(edit.get_by_label("Goal")).to_be_focused()
    await edit.get_by_label("Target").fill("Grip +40%")
    await edit.get_by_label("Due").fill("2027-03-29")
    await edit.get_by_label("Status").select_option("on-hold")
    await edit.get_by_role("button", name="Save goal").click()
    await expect(edit).to_be_hidden()
    await expect(goal.locator('[data-field="target"]')).to_have_text("Grip +40%")
    seen = nurse.page.locator("#goal-list .goal").first
    await expect(seen.locator('[data-field="target"]')).to_have_text("Grip +40%")
    await expect(seen.locator('time[data-field="goal-due"]')).to_have_attribute("datetime", "2027-03-29")
    await expect(seen.locator('[data-field="status"]')).to_have_text("On hold")
    assert lead.script_errors == [] and nurse.script_errors == []


async def test_an_admin_resets_a_password_and_she_chooses_her_own(
    signed_in: SignedIn, db: Any, browser: Any, live_server: Any
) -> None:
    async with db() as s:
        await make_user(s, "admin1", discipline=Discipline.ipm_lead, role=ClinicRole.admin)
        nurse = await make_user(s, "nurse1", discipline=Discipline.nurse)
    admin, nina = await signed_in("admin1"), await signed_in("nurse1")
    await nina.page.goto("/patients")
    await expect(nina.page).to_have_url(re.compile(r"/patients$"))

    page = admin.page
    await page.goto("/admin/users")
    asked: list[str] = []

    async def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    row = page.locator(f"#user-{nurse.id}")
    await row.get_by_role("button", name=re.compile("^Reset password")).click()
    notice = page.locator("#password-reset")
    await expect(notice).to_contain_text(f"Password reset for {nurse.display_name}")
    assert asked and "signed out at once" in asked[0]
    temporary = (await notice.locator('[data-field="temporary-password"]').inner_text()).strip()
    assert await serious_axe_findings(page) == []

    # Her open browser is signed out at once.
    await nina.page.goto("/patients")
    await expect(nina.page).to_have_url(re.compile(r"/login"))
    await nina.page.get_by_label("Username").fill("nurse1")
    await nina.page.get_by_label("Password").fill(temporary)
    await nina.page.get_by_role("button", name="Sign in").click()
    await expect(nina.page).to_have_url(re.compile(r"/account/password$"))
    assert await serious_axe_findings(nina.page) == []
    await nina.page.get_by_label("Temporary password").fill(temporary)
    await nina.page.get_by_label("New password", exact=True).fill("my own passphrase")
    await nina.page.get_by_label("New password again").fill("my own passphrase")
    await nina.page.get_by_role("button", name="Save new password").click()
    await expect(nina.page).to_have_url(re.compile(r"/patients$"))
    await nina.page.goto("/work")
    await expect(nina.page).to_have_url(re.compile(r"/work$"))
    assert admin.script_errors == [] and nina.script_errors == []
