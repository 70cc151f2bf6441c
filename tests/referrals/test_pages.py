"""Referrals' HTML pages: the card (full on the team, minimal for the pool), its action forms, the list,
and the board's Referrals panel with its Refer form."""

from __future__ import annotations

import re
from typing import Any

import httpx

from careteam.accounts import sessions as auth_sessions
from tests.factories import PASSWORD
from tests.referrals.world import World, count_events, make_world

PCS = "CBT for pain catastrophising (PCS 34)"


async def cookie(app: Any, db: Any, username: str) -> dict[str, str]:
    """A browser's session cookie, as the sign-in page would set it."""
    settings = app.state.settings
    async with db() as s:
        issued = await auth_sessions.login(s, username, PASSWORD, kind="cookie", settings=settings)
    assert issued is not None
    return {"Cookie": f"{settings.session_cookie_name}={issued.secret}"}


def csrf(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, "no csrf-token meta tag"
    return match.group(1)


async def refer(client: httpx.AsyncClient, login: Any, w: World, **body: Any) -> dict[str, Any]:
    payload = {"plan_id": w.plan_id, "discipline": "psychologist", "reason": PCS, **body}
    r = await client.post("/api/v1/referrals", json=payload, headers=await login(w.names["lead"]))
    assert r.status_code == 201, r.text
    return dict(r.json())


async def api_get(client: httpx.AsyncClient, login: Any, w: World, referral_id: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/referrals/{referral_id}", headers=await login(w.names["lead"]))
    assert r.status_code == 200, r.text
    return dict(r.json())


class Browser:
    """One clinician's cookie session: GET a page, POST one of its forms with the page's CSRF token."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    async def get(self, url: str) -> httpx.Response:
        return await self.client.get(url, headers=self.headers)

    async def post(self, url: str, data: dict[str, str], *, token: bool = True) -> httpx.Response:
        form = dict(data)
        if token:
            form["csrf_token"] = csrf((await self.get("/referrals")).text)
        return await self.client.post(url, data=form, headers=self.headers)


async def as_(app: Any, client: httpx.AsyncClient, db: Any, w: World, who: str) -> Browser:
    return Browser(client, await cookie(app, db, w.names[who]))


# --- The card -------------------------------------------------------------------------------------


async def test_the_team_sees_the_full_card_and_the_pool_the_minimal_one(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    referral = await refer(client, login, w, reason_code="cbt-pain", priority="urgent")
    rid = referral["id"]

    lead = await as_(app, client, db, w, "lead")
    page = await lead.get(f"/referrals/{rid}")
    assert page.status_code == 200
    html = page.text
    assert "Ellen Marsh" in html and PCS in html
    assert "CBT for pain" in html  # the coded reason's label
    assert "Urgent" in html and "Due in 2 days" in html  # urgent: 3 days to answer, counted down
    assert "Waiting for a clinician" in html
    assert f'href="/plans/{w.plan_id}#referrals"' in html
    assert "Psychology pool" in html
    # The lead may revoke; she is not the recipient, so no claim, accept or decline.
    assert f'action="/referrals/{rid}/revoke"' in html
    assert f'action="/referrals/{rid}/claim"' not in html and f'action="/referrals/{rid}/accept"' not in html

    psy = await as_(app, client, db, w, "psy1")
    page = await psy.get(f"/referrals/{rid}")
    assert page.status_code == 200
    html = page.text
    assert "Ellen Marsh" in html and "years old" in html
    assert f"/plans/{w.plan_id}" not in html  # no way to the board: not hers
    assert "You see the short card" in html
    for action in ("claim", "accept", "decline"):
        assert f'action="/referrals/{rid}/{action}"' in html, action
    for action in ("revoke", "complete"):
        assert f'action="/referrals/{rid}/{action}"' not in html, action


async def test_a_clinician_of_another_discipline_gets_not_found(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    referral = await refer(client, login, w)
    physio = await as_(app, client, db, w, "physio")
    for url in (f"/referrals/{referral['id']}", "/referrals/999999", "/referrals/abc"):
        r = await physio.get(url)
        assert r.status_code == 404, url
        assert r.headers["content-type"].startswith("text/html")
        assert "Ellen Marsh" not in r.text and PCS not in r.text


async def test_anonymous_is_sent_to_sign_in(client: httpx.AsyncClient, db: Any) -> None:
    r = await client.get("/referrals/1")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/referrals/1"


# --- The actions ----------------------------------------------------------------------------------


async def test_claim_accept_and_complete_close_the_loop_and_the_outcome_reaches_the_lead(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    rid = (await refer(client, login, w))["id"]
    psy = await as_(app, client, db, w, "psy1")

    r = await psy.post(f"/referrals/{rid}/claim", {})
    assert r.status_code == 303 and r.headers["location"] == f"/referrals/{rid}"
    assert (await api_get(client, login, w, rid))["claimed_by"]["id"] == w.id("psy1")
    html = (await psy.get(f"/referrals/{rid}")).text
    assert f'action="/referrals/{rid}/claim"' not in html and f'action="/referrals/{rid}/accept"' in html
    # The other psychologist still sees it, claimed by her colleague, and no longer offered to her.
    psy2 = await as_(app, client, db, w, "psy2")
    html = (await psy2.get(f"/referrals/{rid}")).text
    assert "Claimed by" in html and f'action="/referrals/{rid}/' not in html

    r = await psy.post(f"/referrals/{rid}/accept", {})
    assert r.status_code == 303
    stored = await api_get(client, login, w, rid)
    assert stored["answer"] == "accepted" and len(stored["task_ids"]) == 1
    html = (await psy.get(f"/referrals/{rid}")).text  # now on the team: the full card, with its task
    assert f'href="/plans/{w.plan_id}#task-{stored["task_ids"][0]}"' in html
    assert f'action="/referrals/{rid}/complete"' in html

    r = await psy.post(f"/referrals/{rid}/complete", {"outcome": "6 sessions; PCS 34 -> 18."})
    assert r.status_code == 303
    assert (await api_get(client, login, w, rid))["status"] == "completed"
    lead = await as_(app, client, db, w, "lead")
    html = (await lead.get(f"/referrals/{rid}")).text
    assert "6 sessions; PCS 34 -&gt; 18." in html and "Completed" in html
    assert f'action="/referrals/{rid}/revoke"' not in html  # over: nothing left to do


async def test_every_action_form_is_refused_without_the_csrf_token(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    rid = (await refer(client, login, w))["id"]
    psy = await as_(app, client, db, w, "psy1")
    lead = await as_(app, client, db, w, "lead")
    before = await count_events(db, w.plan_id)
    cases = [
        (psy, "claim", {}),
        (psy, "accept", {}),
        (psy, "decline", {"reason": "No capacity"}),
        (psy, "complete", {"outcome": "Done"}),
        (lead, "revoke", {"reason": "Moved away"}),
    ]
    for who, action, data in cases:
        r = await who.post(f"/referrals/{rid}/{action}", data, token=False)
        assert r.status_code == 403, action
        assert "Nothing was changed" in r.text
    r = await lead.post(f"/plans/{w.plan_id}/referrals", {"discipline": "nurse", "reason": "x"}, token=False)
    assert r.status_code == 403
    assert await count_events(db, w.plan_id) == before
    assert (await api_get(client, login, w, rid))["version"] == 1


async def test_decline_without_a_reason_shows_the_field_error_and_changes_nothing(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    rid = (await refer(client, login, w))["id"]
    psy = await as_(app, client, db, w, "psy1")
    before = await count_events(db, w.plan_id)

    r = await psy.post(f"/referrals/{rid}/decline", {"reason": "   "})
    assert r.status_code == 422
    assert 'id="decline-reason-error"' in r.text and "Say why you decline" in r.text
    assert 'aria-invalid="true"' in r.text
    assert await count_events(db, w.plan_id) == before
    assert (await api_get(client, login, w, rid))["answer"] is None

    r = await psy.post(f"/referrals/{rid}/decline", {"reason": "Seen last month; no new indication."})
    assert r.status_code == 303
    stored = await api_get(client, login, w, rid)
    assert stored["answer"] == "declined"
    assert stored["decline_reason"] == "Seen last month; no new indication."
    html = (await (await as_(app, client, db, w, "lead")).get(f"/referrals/{rid}")).text
    assert "Declined because" in html and "Seen last month" in html


async def test_revoke_needs_a_reason_and_only_the_lead_or_physician_may(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    rid = (await refer(client, login, w))["id"]
    nurse = await as_(app, client, db, w, "nurse")
    html = (await nurse.get(f"/referrals/{rid}")).text
    assert f'action="/referrals/{rid}/revoke"' not in html
    r = await nurse.post(f"/referrals/{rid}/revoke", {"reason": "Not needed"})
    assert r.status_code == 403 and "lead or its physicians" in r.text

    physician = await as_(app, client, db, w, "physician")
    r = await physician.post(f"/referrals/{rid}/revoke", {"reason": ""})
    assert r.status_code == 422 and 'id="revoke-reason-error"' in r.text
    assert (await api_get(client, login, w, rid))["status"] == "active"
    r = await physician.post(f"/referrals/{rid}/revoke", {"reason": "Patient moved to another clinic."})
    assert r.status_code == 303
    assert (await api_get(client, login, w, rid))["status"] == "revoked"
    assert "Revoked because" in (await physician.get(f"/referrals/{rid}")).text


async def test_complete_without_an_outcome_and_a_claim_already_taken(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    rid = (await refer(client, login, w))["id"]
    psy, psy2 = await as_(app, client, db, w, "psy1"), await as_(app, client, db, w, "psy2")
    assert (await psy.post(f"/referrals/{rid}/accept", {})).status_code == 303
    r = await psy.post(f"/referrals/{rid}/complete", {"outcome": ""})
    assert r.status_code == 422 and 'id="complete-outcome-error"' in r.text
    assert (await api_get(client, login, w, rid))["status"] == "active"
    # Her colleague, too late: the error page says why.
    r = await psy2.post(f"/referrals/{rid}/claim", {})
    assert r.status_code == 409 and "already accepted" in r.text


# --- The list -------------------------------------------------------------------------------------


async def test_the_list_shows_what_she_may_see_and_filters_it(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    pool = await refer(client, login, w, reason="Pool referral")
    nurse = await refer(client, login, w, discipline="nurse", reason="Nurse follow-up")
    psy = await as_(app, client, db, w, "psy1")
    html = (await psy.get("/referrals?pool=1")).text
    assert f'href="/referrals/{pool["id"]}"' in html and f'href="/referrals/{nurse["id"]}"' not in html
    lead = await as_(app, client, db, w, "lead")
    html = (await lead.get("/referrals")).text
    assert f'href="/referrals/{pool["id"]}"' in html and f'href="/referrals/{nurse["id"]}"' in html
    html = (await lead.get("/referrals?discipline=nurse&status=bogus")).text
    assert f'href="/referrals/{pool["id"]}"' not in html and f'href="/referrals/{nurse["id"]}"' in html
    html = (await lead.get("/referrals?overdue=1")).text
    assert "No referrals match." in html


# --- The board ------------------------------------------------------------------------------------


async def test_the_board_lists_the_plans_referrals_and_only_planners_get_the_refer_form(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    rid = (await refer(client, login, w))["id"]
    for who, may_refer in (("lead", True), ("physician", True), ("nurse", False)):
        html = (await (await as_(app, client, db, w, who)).get(f"/plans/{w.plan_id}")).text
        assert 'id="referrals"' in html, who
        assert f'id="referral-{rid}"' in html and "Psychology pool" in html, who
        assert (f'action="/plans/{w.plan_id}/referrals"' in html) is may_refer, who


async def test_the_refer_form_creates_a_referral_or_says_what_to_fix(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    lead = await as_(app, client, db, w, "lead")
    form = {
        "discipline": "psychologist",
        "assignee_id": str(w.id("psy2")),
        "reason_code": "cbt-pain",
        "reason": PCS,
        "priority": "urgent",
        "respond_by": "2099-01-31",
    }
    # An OT reason for psychology: the form again, with the field's error; nothing sent.
    r = await lead.post(f"/plans/{w.plan_id}/referrals", {**form, "reason_code": "return-to-work"})
    assert r.status_code == 422 and 'id="refer-reason_code-error"' in r.text
    assert PCS in r.text  # what she typed is kept
    r = await lead.post(f"/plans/{w.plan_id}/referrals", {**form, "reason": " "})
    assert r.status_code == 422 and 'id="refer-reason-error"' in r.text
    assert await count_events(db, w.plan_id) == 0

    r = await lead.post(f"/plans/{w.plan_id}/referrals", form)
    assert r.status_code == 303 and r.headers["location"] == f"/plans/{w.plan_id}#referrals"
    items = (await client.get("/api/v1/referrals", headers=await login(w.names["lead"]))).json()["items"]
    assert len(items) == 1
    made = items[0]
    assert made["discipline"] == "psychologist" and made["reason_code"] == "cbt-pain"
    assert made["priority"] == "urgent"
    assert made["assignee"]["id"] == w.id("psy2") and made["respond_by"].startswith("2099-01-31T23:59:59")
    html = (await lead.get(f"/plans/{w.plan_id}")).text
    assert f'id="referral-{made["id"]}"' in html

    # The nurse may not refer, even with a hand-made form.
    nurse = await as_(app, client, db, w, "nurse")
    r = await nurse.post(f"/plans/{w.plan_id}/referrals", form)
    assert r.status_code == 403


async def test_a_task_from_a_referral_links_to_it_on_the_board(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    rid = (await refer(client, login, w))["id"]
    psy = await as_(app, client, db, w, "psy1")
    assert (await psy.post(f"/referrals/{rid}/accept", {})).status_code == 303
    task_id = (await api_get(client, login, w, rid))["task_ids"][0]
    html = (await (await as_(app, client, db, w, "lead")).get(f"/plans/{w.plan_id}")).text
    card = re.search(rf'<article[^>]*id="task-{task_id}".*?</article>', html, re.S)
    assert card is not None
    assert f'href="/referrals/{rid}"' in card.group(0)
    assert f'Referral #<span data-field="referral">{rid}</span>' in card.group(0)
