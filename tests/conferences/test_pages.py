"""Conferences' HTML pages: the list and the IPM lead's schedule form (what is wrong said beside its field,
nothing saved), the room (the facilitator's controls for her alone) and the summary.

The live behaviour (following the facilitator, boards, presence, printing) is in
tests/browser/test_conferences.py."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlmodel import func, select

from careteam.conferences.tables import Conference
from tests.conferences.world import Clinic, make_clinic, schedule_body
from tests.referrals.test_pages import Browser, cookie, csrf

WRITES = ('data-action="start"', 'data-action="advance"', 'data-action="decision"', 'data-action="minutes"')


async def _as(app: Any, client: httpx.AsyncClient, db: Any, c: Clinic, who: str) -> Browser:
    return Browser(client, await cookie(app, db, c.usernames[who]))


async def _count(db: Any) -> int:
    async with db() as s:
        return int((await s.exec(select(func.count()).select_from(Conference))).one())


async def _post(b: Browser, data: dict[str, Any]) -> httpx.Response:
    token = csrf((await b.get("/conferences")).text)
    return await b.client.post("/conferences", data={**data, "csrf_token": token}, headers=b.headers)


async def test_the_schedule_form_says_what_to_fix_beside_each_field_and_saves_nothing(
    app: Any, client: httpx.AsyncClient, db: Any
) -> None:
    c = await make_clinic(db)
    lead = await _as(app, client, db, c, "lead")
    page = await lead.get("/conferences")
    assert page.status_code == 200
    assert 'id="schedule-form"' in page.text and "Suggest agenda" in page.text
    # Both plans of her teams are offered, named by patient.
    assert "Ellen Marsh: Lumbar facet pain" in page.text and "Omar Haddad: CRPS upper limb" in page.text

    r = await _post(
        lead,
        {
            "title": "",
            "starts_at": "next Thursday",
            "duration_minutes": "5",
            "item_plan": [str(c.plan1), str(c.plan2)],
            "item_reason": ["", "Declined psychology referral"],
        },
    )
    assert r.status_code == 422
    for field in ("schedule-title-error", "schedule-starts_at-error", "schedule-duration_minutes-error"):
        assert f'id="{field}"' in r.text, field
    assert 'id="item-0-reason-error"' in r.text and "Item 1: Say why the plan is presented" in r.text
    # What was typed is kept.
    assert 'value="Declined psychology referral"' in r.text and 'value="next Thursday"' in r.text
    # A rule of the service (the same plan twice) is said beside that row's plan.
    r = await _post(
        lead,
        {
            "title": "Spine MDT",
            "starts_at": "2030-01-10T13:00",
            "item_plan": [str(c.plan1), str(c.plan1)],
            "item_reason": ["RFA?", "RFA again?"],
        },
    )
    assert r.status_code == 422
    assert 'id="item-1-plan-error"' in r.text and "on the agenda twice" in r.text
    assert await _count(db) == 0

    r = await _post(
        lead,
        {
            "title": "Spine MDT, Thursday",
            "team": "Spine MDT",
            "starts_at": "2030-01-10T13:00",
            "duration_minutes": "45",
            "attendee_ids": [str(c.doc), str(c.psy)],
            "observer_ids": [str(c.trainee)],
            "item_plan": [str(c.plan1), "", str(c.plan2)],
            "item_reason": ["Decide on RFA after two positive MBBs", "", "Declined psychology referral"],
            "item_presenter": [str(c.doc), "", ""],
        },
    )
    assert r.status_code == 303, r.text
    conference_id = int(r.headers["location"].rsplit("/", 1)[1])
    room = await lead.get(f"/conferences/{conference_id}")
    assert room.status_code == 200
    assert "2030-01-10 13:00 UTC" in room.text and "Presents: " in room.text
    assert await _count(db) == 1


async def test_a_clinician_who_is_not_a_lead_has_no_schedule_form_and_is_refused(
    app: Any, client: httpx.AsyncClient, db: Any
) -> None:
    c = await make_clinic(db)
    doc = await _as(app, client, db, c, "doc")
    page = await doc.get("/conferences")
    assert page.status_code == 200 and 'id="schedule-form"' not in page.text
    r = await _post(doc, {"title": "Mine", "starts_at": "2030-01-10T13:00"})
    assert r.status_code == 403
    assert await _count(db) == 0


async def test_only_the_facilitator_room_has_controls_and_the_list_and_summary_name_it(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    c = await make_clinic(db)
    r = await client.post(
        "/api/v1/conferences", json=schedule_body(c), headers=await login(c.usernames["lead"])
    )
    assert r.status_code == 201, r.text
    conference_id = r.json()["id"]
    pages = {
        who: await (await _as(app, client, db, c, who)).get(f"/conferences/{conference_id}")
        for who in ("lead", "doc", "trainee", "outsider")
    }
    assert pages["outsider"].status_code == 404
    for who in ("lead", "doc", "trainee"):
        assert pages[who].status_code == 200, who
        # The first item's board and what the room says about it.
        assert "Ellen Marsh" in pages[who].text and "Changed since the last conference" in pages[who].text
    # Not started yet: Start, not Next item; the item's record forms.
    assert [w for w in WRITES if w in pages["lead"].text] == [w for w in WRITES if "advance" not in w]
    for who in ("doc", "trainee"):
        assert not [w for w in WRITES if w in pages[who].text], who
        assert "<textarea" not in pages[who].text
    listed = await (await _as(app, client, db, c, "trainee")).get("/conferences")
    assert re.search(rf'href="/conferences/{conference_id}">Spine MDT<', listed.text)
    assert "You: Observer" in listed.text and "2 items" in listed.text
    summary = await (await _as(app, client, db, c, "doc")).get(f"/conferences/{conference_id}/summary")
    assert summary.status_code == 200
    assert (
        "1. Ellen Marsh: Lumbar facet pain" in summary.text
        and "2. Omar Haddad: CRPS upper limb" in summary.text
    )
    assert f'href="/api/v1/conferences/{conference_id}/summary"' in summary.text


async def test_after_the_end_an_observer_off_the_team_keeps_the_room_and_record_not_the_board(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    c = await make_clinic(db)
    lead = await login(c.usernames["lead"])
    r = await client.post("/api/v1/conferences", json=schedule_body(c), headers=lead)
    assert r.status_code == 201, r.text
    conference_id = r.json()["id"]
    trainee = await _as(app, client, db, c, "trainee")
    during = await trainee.get(f"/conferences/{conference_id}")
    assert during.status_code == 200 and 'class="room-grid"' in during.text
    for status in ("in-progress", "ended"):
        r = await client.get(f"/api/v1/conferences/{conference_id}", headers=lead)
        r = await client.patch(
            f"/api/v1/conferences/{conference_id}",
            json={"status": status},
            headers={**lead, "If-Match": r.headers["ETag"]},
        )
        assert r.status_code == 200, r.text
    after = await trainee.get(f"/conferences/{conference_id}")
    assert after.status_code == 200
    assert "its window has closed" in after.text and 'class="room-grid"' not in after.text
    assert "Ellen Marsh" in after.text  # the agenda and the record stay
    assert (await trainee.get(f"/conferences/{conference_id}/summary")).status_code == 200
    # The lead, on the team, still has the board (to complete the minutes).
    room = await (await _as(app, client, db, c, "lead")).get(f"/conferences/{conference_id}")
    assert 'class="room-grid"' in room.text and 'data-action="minutes"' in room.text
    assert 'data-action="decision"' not in room.text


async def test_hostile_form_values_are_field_errors_never_a_crash(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    c = await make_clinic(db)
    lead = await _as(app, client, db, c, "lead")
    r = await _post(
        lead,
        {
            "title": "x" * 201,
            "starts_at": "2030-13-45T99:99",
            "duration_minutes": "1e9",
            "attendee_ids": ["abc", "-1"],
            "observer_ids": [str(2**40)],
            "item_plan": ["<script>", *[str(c.plan1)] * 40],
            "item_reason": ["x"] * 41,
            "item_presenter": ["nobody"],
        },
    )
    assert r.status_code == 422
    for field in ("title", "starts_at", "duration_minutes"):
        assert f'id="schedule-{field}-error"' in r.text, field
    assert 'id="schedule-attendee_ids-error"' in r.text and 'id="schedule-observer_ids-error"' in r.text
    assert 'id="agenda-error"' in r.text  # more than 30 items
    assert await _count(db) == 0
    # An unknown item in the room's address shows the first one; a malformed one too.
    r = await client.post(
        "/api/v1/conferences", json=schedule_body(c), headers=await login(c.usernames["lead"])
    )
    conference_id = r.json()["id"]
    for item in ("999999", "abc", "9" * 40):
        page = await lead.get(f"/conferences/{conference_id}?item={item}")
        assert page.status_code == 200 and "Ellen Marsh" in page.text, item


async def test_the_room_shows_the_plans_trends_to_everyone_taking_part(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    """An observer off the care team sees the item's outcome sparklines in the room (the plan is lent to
    her for the conference), unlinked: the plan's own outcomes page stays the care team's."""
    c = await make_clinic(db)
    lead = await login(c.usernames["lead"])
    for value in (8, 5):
        r = await client.post(
            f"/api/v1/plans/{c.plan1}/measures", json={"measure": "nrs", "value": value}, headers=lead
        )
        assert r.status_code == 201, r.text
    r = await client.post("/api/v1/conferences", json=schedule_body(c), headers=lead)
    assert r.status_code == 201, r.text
    trainee = await _as(app, client, db, c, "trainee")
    room = await trainee.get(f"/conferences/{r.json()['id']}")
    assert room.status_code == 200
    assert 'aria-label="Pain intensity (NRS 0-10): 2 scores' in room.text
    assert '<span class="sparks__item" data-measure="nrs">' in room.text
    assert f'href="/plans/{c.plan1}/outcomes' not in room.text
    assert (await trainee.get(f"/plans/{c.plan1}/outcomes")).status_code == 404
