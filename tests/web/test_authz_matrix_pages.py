"""Every HTML route against every kind of caller, from one expected table (the JSON routes have theirs in
tests/web/test_authz_matrix.py): no page shows or changes what its caller may not see or change."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute

from careteam.accounts import sessions as auth_sessions
from tests.factories import PASSWORD
from tests.web.test_authz_matrix import CONFERRING, CONVERSING, ON_TEAM, PERSONAS, World, _world

PLANNERS = {"ipm_lead", "physician"}
# Signing in, the redirect to the patient list, and the icon every browser asks for (tests/web/test_pages.py).
PUBLIC = {"GET /login", "POST /login", "GET /", "GET /favicon.ico"}


def expect(route: str, persona: str) -> int:
    """The one expected table for pages: status per (route, persona)."""
    on_team, lead, admin = persona in ON_TEAM, persona == "ipm_lead", persona == "admin"
    psychologist = persona == "psychologist"
    prescribes = persona in {"ipm_lead", "physician", "nurse", "pharmacist"}
    if persona == "anonymous":
        if route == "POST /logout":
            return 303  # signing out without a session just lands on the sign-in page
        return 303 if route.startswith("GET ") else 401  # a page asks to sign in; a form post is refused
    table: dict[str, int] = {
        "POST /logout": 303,
        "GET /patients": 200,
        "POST /patients": 303 if (admin or lead) else 403,
        "GET /patients/{patient_id}": 200 if (on_team or admin) else 404,
        "POST /patients/{patient_id}/members": 303 if (lead or admin) else 403 if on_team else 404,
        "POST /patients/{patient_id}/members/{member_id}/remove": 303
        if (lead or admin)
        else 403
        if on_team
        else 404,
        # Sharing with the EMR's interface account (the world's patient is shared with it): as membership.
        "POST /patients/{patient_id}/shares": 303 if (lead or admin) else 403 if on_team else 404,
        "POST /patients/{patient_id}/shares/{user_id}/remove": 303
        if (lead or admin)
        else 403
        if on_team
        else 404,
        # The patient is named in the address: off your teams, it is a field error like the API's.
        "POST /patients/{patient_id}/plans": 303 if persona in PLANNERS else 403 if on_team else 422,
        "GET /plans/{plan_id}": 200 if on_team else 404,
        "GET /notifications": 200,  # her own inbox
        "POST /notifications/read": 303,
        "GET /admin/users": 200 if admin else 404,
        "POST /admin/users": 303 if admin else 404,
        "POST /admin/users/{user_id}/active": 303 if admin else 404,
        # The reset answers the accounts page with the temporary password (not a redirect: in no address).
        "POST /admin/users/{user_id}/password-reset": 200 if admin else 404,
        # Her own password, whoever she is (the current one is checked); this session stays signed in.
        "GET /account/password": 200,
        "POST /account/password": 303,
        # Her own sessions and tokens, whoever she is (the world's other token of hers).
        "POST /account/sessions/{session_id}/revoke": 303,
        "GET /admin/audit": 200 if admin else 404,
        "GET /work": 200,
        # Search: everyone signed in; only what her teams' plans hold is found (tests/search/test_pages.py).
        "GET /search": 200,
        # Acknowledging from My work, as the JSON API: those asked (the world's message asks each physician
        # and physical therapist), 403 for the rest of the team, 404 off it.
        "POST /work/messages/{message_id}/ack": 303
        if persona in ("physician", "physical_therapist")
        else 403
        if on_team
        else 404,
        # Referrals, as in the JSON table: the team reads them, the lead and physicians refer and revoke,
        # the psychology pool answers (in route order: accept, then claim what she accepted: 409, complete,
        # then decline what is completed: 409); off the team and out of the pool nothing exists.
        "GET /referrals": 200,
        "GET /referrals/{referral_id}": 200 if on_team else 404,
        "POST /plans/{plan_id}/referrals": 303 if persona in PLANNERS else 403 if on_team else 404,
        "POST /referrals/{referral_id}/accept": 303 if psychologist else 403 if on_team else 404,
        "POST /referrals/{referral_id}/claim": 409 if psychologist else 403 if on_team else 404,
        "POST /referrals/{referral_id}/complete": 303 if psychologist else 403 if on_team else 404,
        "POST /referrals/{referral_id}/decline": 409 if psychologist else 403 if on_team else 404,
        "POST /referrals/{referral_id}/revoke": 303 if persona in PLANNERS else 403 if on_team else 404,
        # Messages, as in the JSON table: her list for everyone; the conversation about the patient for its
        # participants on the care team; a new one about the patient from her team (else the form again).
        "GET /messages": 200,
        "POST /messages": 303 if on_team else 422,
        "POST /messages/read-all": 303,
        "GET /messages/{conversation_id}": 200 if persona in CONVERSING else 404,
        "POST /messages/{conversation_id}": 303 if persona in CONVERSING else 404,
        # Outcome measures: the care team's, as in the JSON table (a lent plan shows no scores).
        "GET /plans/{plan_id}/outcomes": 200 if on_team else 404,
        "GET /plans/{plan_id}/outcomes/charts": 200 if on_team else 404,
        "GET /plans/{plan_id}/outcomes/sparklines": 200 if on_team else 404,
        "GET /plans/{plan_id}/outcomes/goals": 200 if on_team else 404,
        "POST /plans/{plan_id}/outcomes/responses": 303 if on_team else 404,
        "POST /plans/{plan_id}/outcomes": 303 if on_team else 404,
        # Protocols, as in the JSON table: everyone reads, IPM leads keep them, the plan's planners apply.
        "GET /templates": 200,
        "GET /templates/new": 200 if (lead or admin) else 403,
        "POST /templates": 303 if (lead or admin) else 403,
        "GET /templates/{template_id}": 200,
        "POST /templates/{template_id}": 303 if (lead or admin) else 403,
        "POST /plans/{plan_id}/apply-template": 303 if persona in PLANNERS else 403 if on_team else 404,
        "POST /measures/{observation_id}/withdraw": 303 if on_team else 404,
        # Medications, as in the JSON table: the team reads them; its physicians, nurses, pharmacists and
        # lead add and change them.
        "GET /plans/{plan_id}/medications": 200 if on_team else 404,
        "GET /plans/{plan_id}/medications/part": 200 if on_team else 404,
        "POST /plans/{plan_id}/medications": (303 if prescribes else 403) if on_team else 404,
        "POST /medications/{medication_id}/change": (303 if prescribes else 403) if on_team else 404,
        "POST /responses/{response_id}/withdraw": 303 if on_team else 404,
        # Conferences, as in the JSON table: everyone has a list (her own conferences); scheduling is an IPM
        # lead's (the admin, a lead off the team, gets the form again: the plan is not on her teams); the
        # room and the summary are the participants'.
        "GET /conferences": 200,
        "POST /conferences": 303 if lead else 422 if admin else 403,
        "GET /conferences/{conference_id}": 200 if persona in CONFERRING else 404,
        "GET /conferences/{conference_id}/summary": 200 if persona in CONFERRING else 404,
    }
    return table[route]


def page_routes(app: Any) -> list[str]:
    """Every HTML route: those of every feature's pages (``app`` is there to say which app is meant)."""
    from careteam.app import FEATURES

    out = [
        f"{method} {route.path}"
        for _, pages in FEATURES
        if pages is not None
        for route in pages.router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods)
        if method != "HEAD"
    ]
    assert len(out) > 10, out
    return sorted(out)


def test_table_covers_every_page_route() -> None:
    from careteam.app import create_app

    for route in set(page_routes(create_app())) - PUBLIC:
        expect(route, "nurse")  # KeyError names a page the table forgot


def _form(route: str, w: World, csrf: str) -> tuple[str, str, dict[str, Any] | None]:
    method, path = route.split(" ", 1)
    path = path.format(
        patient_id=w.patient_id,
        member_id=w.spare_member_id,
        plan_id=w.plan_id,
        user_id=w.emr_id if "/shares/" in path else w.user_id,
        referral_id=w.referral_id,
        conversation_id=w.conversation_id,
        message_id=w.message_id,
        session_id=w.own_session,
        observation_id=w.observation_id,
        response_id=w.response_id,
        conference_id=w.conference_id,
        medication_id=w.medication_id,
        template_id=w.template_id,
    )
    template_form = {
        "name": "Opioid taper",
        "status": "active",
        "version": "1",
        "goal_description": ["Taper to under 50 MME/day"],
        "goal_target": ["< 50 MME/day"],
        "goal_offset": ["112"],
        "task_key": ["plan"],
        "task_title": ["Opioid taper plan"],
        "task_discipline": ["pharmacist"],
        "task_priority": ["routine"],
        "task_offset": ["7"],
        "task_gates": [""],
        "task_description": [""],
    }
    forms: dict[str, dict[str, Any]] = {
        "POST /patients": {"mrn": "NEW-9", "name": "New Patient", "birth_date": "1980-02-02"},
        "POST /patients/{patient_id}/members": {"user_id": str(w.candidate_id), "role": "member"},
        "POST /patients/{patient_id}/shares": {"user_id": str(w.emr_id)},
        "POST /patients/{patient_id}/shares/{user_id}/remove": {},
        "POST /patients/{patient_id}/members/{member_id}/remove": {},
        "POST /patients/{patient_id}/plans": {"title": "Second plan"},
        "POST /admin/users": {
            "username": "newbie",
            "display_name": "New Nurse",
            "discipline": "nurse",
            "role": "clinician",
            "password": "long enough",
        },
        "POST /admin/users/{user_id}/active": {"active": "false"},
        "POST /admin/users/{user_id}/password-reset": {"page": "1"},
        "POST /account/password": {
            "current_password": PASSWORD,
            "new_password": "a new passphrase",
            "confirm_password": "a new passphrase",
        },
        "POST /notifications/read": {"all": "1"},
        "POST /plans/{plan_id}/referrals": {
            "discipline": "physical_therapist",
            "reason": "Core stabilisation after MBB",
            "priority": "routine",
        },
        "POST /referrals/{referral_id}/complete": {"outcome": "6 sessions; PCS 34 -> 18."},
        "POST /referrals/{referral_id}/decline": {"reason": "Seen last month."},
        "POST /referrals/{referral_id}/revoke": {"reason": "Moved to another clinic."},
        "POST /referrals/{referral_id}/accept": {},
        "POST /referrals/{referral_id}/claim": {},
        "POST /work/messages/{message_id}/ack": {},
        "POST /logout": {},
        "POST /account/sessions/{session_id}/revoke": {},
        "POST /messages": {
            "participants": [str(u) for u in w.colleague_ids],
            "patient_id": str(w.patient_id),
            "body": "Lost job, insurance lapse: can you see her this week?",
        },
        "POST /messages/read-all": {},
        "POST /messages/{conversation_id}": {"body": "Discuss before next prescription"},
        "POST /plans/{plan_id}/outcomes": {"measure": "peg", "peg1": "7", "peg2": "6", "peg3": "8"},
        "POST /plans/{plan_id}/outcomes/responses": {
            "task_id": str(w.task_id),
            "relief_percent": "80",
            "duration_hours": "6",
        },
        "POST /measures/{observation_id}/withdraw": {
            "plan_id": str(w.plan_id),
            "version": "1",
            "reason": "Recorded on the wrong plan",
        },
        "POST /plans/{plan_id}/medications": {"drug": "pregabalin", "dose": "75", "frequency": "bid"},
        "POST /medications/{medication_id}/change": {
            "plan_id": str(w.plan_id),
            "version": "1",
            "status": "on-hold",
        },
        "POST /responses/{response_id}/withdraw": {
            "plan_id": str(w.plan_id),
            "version": "1",
            "reason": "Recorded on the wrong block",
        },
        "POST /templates": template_form,
        "POST /templates/{template_id}": template_form,
        "POST /plans/{plan_id}/apply-template": {
            "template_id": str(w.template_id),
            "start_date": "2027-01-04",
        },
        "POST /conferences": {
            "title": "Spine MDT, next week",
            "starts_at": "2030-01-10T13:00",
            "item_plan": str(w.plan_id),
            "item_reason": "SCS trial candidate: gates",
        },
    }
    if method == "GET":
        return method, path + ("?q=UDS" if path == "/search" else ""), None
    return method, path, {**forms[route], "csrf_token": csrf}


async def _version(db: Any, route: str, w: World) -> str:
    from sqlmodel import select

    from careteam.accounts.tables import User
    from careteam.patients.tables import CareTeam

    async with db() as s:
        if "/admin/users/" in route:
            row: Any = await s.get(User, w.user_id)
        else:
            row = (await s.exec(select(CareTeam).where(CareTeam.patient_id == w.patient_id))).one()
        return str(row.version)


# The EMR's interface account signs in for a token only (tests/fhir/test_write.py): it has no page.
@pytest.mark.parametrize("persona", [p for p in PERSONAS if p != "emr"])
async def test_every_page_answers_as_the_table_says(persona: str, app: Any, client: Any, db: Any) -> None:
    settings = app.state.settings
    world, username = await _world(db, persona, settings)
    cookies: dict[str, str] = {}
    csrf = ""
    if username:
        async with db() as s:
            issued = await auth_sessions.login(s, username, PASSWORD, kind="cookie", settings=settings)
            assert issued is not None
            csrf = issued.record.csrf_token
        cookies = {settings.session_cookie_name: issued.secret}
    mismatches = []
    # Logout last: it ends the session the other requests use; before it the password change, which ends
    # her other sessions (the one the revoke route signs out). The rest in name order, as a referral's
    # actions must come (accept before complete).
    last = ("POST /account/password", "POST /logout")
    routes = sorted(set(page_routes(app)) - PUBLIC, key=lambda r: (last.index(r) if r in last else -1, r))
    for route in routes:
        method, path, form = _form(route, world, csrf)
        if form is not None and ("/members" in route or "/active" in route):
            form["version"] = await _version(db, route, world)
        client.cookies.clear()
        client.cookies.update(cookies)
        r = await client.request(method, path, data=form, headers={"Accept": "text/html"})
        if r.status_code != expect(route, persona):
            mismatches.append(f"{route}: {r.status_code} (expected {expect(route, persona)})")
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith("text/html"), route
    assert not mismatches, "\n".join(mismatches)
