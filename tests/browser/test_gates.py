"""Readiness gates in the browser, two clinicians on one board: the procedure card names its open gates and
cannot be moved on; a gate added in the task dialog (by keyboard) shows on the other board; completing the
last gate lets the procedure move, live for every viewer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.board_world import make_board
from tests.browser.axe import serious_axe_findings
from tests.browser.conftest import SignedIn
from tests.browser.test_live_board import LIVE_DEADLINE_MS, add_task, get_task, open_board

pytestmark = pytest.mark.browser


async def _finish(client: httpx.AsyncClient, h: dict[str, str], task: dict[str, Any]) -> None:
    for status in ("in-progress", "completed"):
        r = await client.patch(
            f"/api/v1/tasks/{task['id']}",
            json={"status": status},
            headers={**h, "If-Match": f'W/"{task["version"]}"'},
        )
        assert r.status_code == 200, r.text
        task = r.json()


async def test_completing_the_last_gate_lets_the_procedure_move_for_every_viewer(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_board(db)
    api = await login(w.lead)
    psych = await add_task(client, api, w.plan_id, title="Psychological clearance", discipline="psychologist")
    imaging = await add_task(
        client,
        api,
        w.plan_id,
        title="Imaging reviewed",
        discipline="physician",
        link="https://pacs.example.org/studies/MRI-T-2291",
    )
    anticoag = await add_task(client, api, w.plan_id, title="Anticoagulation plan", discipline="nurse")
    scs = await add_task(client, api, w.plan_id, title="SCS trial", discipline="physician")
    r = await client.put(
        f"/api/v1/tasks/{scs['id']}/gates",
        json={"gate_task_ids": [psych["id"], imaging["id"]]},
        headers={**api, "If-Match": f'W/"{scs["version"]}"'},
    )
    assert r.status_code == 200, r.text
    lead, nurse = await signed_in(w.lead), await signed_in(w.nurse)
    mine, theirs = await open_board(lead, w.plan_id), await open_board(nurse, w.plan_id)
    card = f"#task-{scs['id']}"
    for page in (mine, theirs):
        gates = page.locator(f"{card} [data-part=gates]")
        await expect(gates).to_be_visible()
        await expect(gates).to_contain_text(
            "\u201cPsychological clearance\u201d, \u201cImaging reviewed\u201d"
        )
        await expect(page.locator(f"#task-{imaging['id']} [data-part=gates-for]")).to_contain_text(
            "SCS trial"
        )
        await expect(page.locator(f"#task-{imaging['id']} [data-part=link] a")).to_have_attribute(
            "href", "https://pacs.example.org/studies/MRI-T-2291"
        )

    # The nurse's Move menu does not offer In progress, and says why.
    await theirs.locator(f'{card} [data-action="move-menu"]').click()
    menu = theirs.locator(f"{card} [data-part=move-menu]")
    await expect(menu).to_be_visible()
    await expect(menu.locator('[data-move-to="in_progress"]')).to_be_hidden()
    await expect(menu.locator("[data-field=move-why]")).to_contain_text("Waiting for its gates")
    await menu.locator('[data-move="close"]').click()

    # The lead adds a third gate in the task dialog, by keyboard.
    await mine.locator(f'{card} [data-action="edit"]').focus()
    await mine.keyboard.press("Enter")
    dialog = mine.locator("#task-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("[data-field=gates-list] li")).to_have_count(2)
    await expect(dialog.locator("[data-field=gates-list]")).to_contain_text("Imaging reviewed")
    assert await serious_axe_findings(mine) == []
    await dialog.locator("#edit-new-gate").focus()
    await dialog.locator("#edit-new-gate").select_option(str(anticoag["id"]))
    await mine.keyboard.press("Tab")
    await expect(dialog.locator('[data-action="add-gate"]')).to_be_focused()
    await mine.keyboard.press("Enter")
    await expect(dialog.locator("[data-field=gates-list] li")).to_have_count(3)
    await expect(theirs.locator(f"{card} [data-part=gates]")).to_contain_text(
        "\u201cAnticoagulation plan\u201d", timeout=LIVE_DEADLINE_MS
    )
    await mine.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()

    # Gates done one by one (elsewhere): the card follows, and the last one frees it for both.
    await _finish(client, api, psych)
    await _finish(client, api, anticoag)
    await expect(theirs.locator(f"{card} [data-part=gates]")).to_have_text(
        "Waiting for \u201cImaging reviewed\u201d", timeout=LIVE_DEADLINE_MS
    )
    await _finish(client, api, imaging)
    for page in (mine, theirs):
        await expect(page.locator(f"{card} [data-part=gates]")).to_be_hidden(timeout=LIVE_DEADLINE_MS)
    # Now the nurse moves it to In progress with the Move menu.
    await theirs.locator(f'{card} [data-action="move-menu"]').click()
    await menu.locator('[data-move-to="in_progress"]').click()
    await expect(mine.locator(f'#lane-physician .cell[data-column="in_progress"] {card}')).to_be_visible(
        timeout=LIVE_DEADLINE_MS
    )
    assert (await get_task(client, api, scs["id"]))["status"] == "in-progress"
    assert lead.script_errors == [] and nurse.script_errors == []
