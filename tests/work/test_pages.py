"""The My work page and the patient list's state of care, as a clinician sees them on load."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any

import httpx

from careteam.core.vocab import Discipline
from careteam.patients.codes import TeamRole
from careteam.plans.tables import Task
from tests.factories import make_patient, make_plan, make_user, statements
from tests.plans.test_pages import cookie

HOSTILE = "<script>alert(1)</script>"


async def _nurse_with_work(db: Any) -> dict[str, Any]:
    today = date.today()
    async with db() as s:
        nurse = await make_user(s, discipline=Discipline.nurse)
        physio = await make_user(s, discipline=Discipline.physical_therapist)
        ellen = await make_patient(
            s, members=[(nurse, TeamRole.member), (physio, TeamRole.member)], name="Ellen Marsh"
        )
        omar = await make_patient(s, members=[(nurse, TeamRole.member)], name="Omar Haddad")
        stranger = await make_patient(s, members=[(physio, TeamRole.member)], name="Not Hers")
        plan = await make_plan(s, ellen)
        other_plan = await make_plan(s, omar)
        stranger_plan = await make_plan(s, stranger)
        tasks = {
            "overdue": Task(
                plan_id=plan.id or 0,
                title="UDS overdue",
                discipline="nurse",
                due_date=today - timedelta(days=3),
                assignee_id=nurse.id,
            ),
            "today": Task(plan_id=other_plan.id or 0, title=HOSTILE, discipline="nurse", due_date=today),
            "week": Task(
                plan_id=plan.id or 0,
                title="PDMP check",
                discipline="physician",
                due_date=today + timedelta(days=2),
                assignee_id=nurse.id,
            ),
            "later": Task(plan_id=plan.id or 0, title="Refill call", discipline="nurse"),
            "done": Task(
                plan_id=plan.id or 0,
                title="Done already",
                discipline="nurse",
                status="completed",
                due_date=today - timedelta(days=9),
            ),
            "physio": Task(
                plan_id=plan.id or 0,
                title="Gait review",
                discipline="physical_therapist",
                due_date=today - timedelta(days=1),
            ),
            "stranger": Task(
                plan_id=stranger_plan.id or 0,
                title="Not hers",
                discipline="nurse",
                due_date=today - timedelta(days=1),
            ),
        }
        s.add_all(tasks.values())
        await s.flush()
    return {
        "nurse": nurse.username,
        "physio": physio.username,
        "ids": {k: t.id for k, t in tasks.items()},
        "plan_id": plan.id,
        "other_plan_id": other_plan.id,
        "ellen": ellen.id,
        "omar": omar.id,
        "stranger": stranger.id,
    }


def _section(html: str, due: str) -> str:
    match = re.search(rf'<section class="panel work-group" data-due="{due}".*?</section>', html, re.S)
    assert match, due
    return match.group(0)


async def test_my_work_page_groups_rows_that_link_to_their_cards(
    app: Any, client: httpx.AsyncClient, db: Any
) -> None:
    w = await _nurse_with_work(db)
    r = await client.get("/work", headers=await cookie(app, db, w["nurse"]))
    assert r.status_code == 200, r.text
    html = r.text
    ids = w["ids"]
    headings = re.findall(r'<span data-field="label">([^<]+)</span>', html)
    assert headings[:4] == ["Overdue", "Due today", "This week", "Later"]
    overdue, today, week, later = (_section(html, d) for d in ("overdue", "today", "week", "later"))
    assert f'href="/plans/{w["plan_id"]}#task-{ids["overdue"]}"' in overdue and ">UDS overdue<" in overdue
    # Overdue says so in words, not only in colour.
    assert "work-row--overdue" in overdue and ">Overdue</span>" in overdue
    assert f'href="/plans/{w["other_plan_id"]}#task-{ids["today"]}"' in today
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in today and HOSTILE not in html
    assert ">PDMP check<" in week and ">Refill call<" in later and "No due date" in later
    for gone in ("Done already", "Gait review", "Not hers"):
        assert gone not in html
    # The filters: her patients only, every lane; the page's script state names her stream's user.
    assert ">Ellen Marsh</option>" in html and ">Omar Haddad</option>" in html and "Not Hers" not in html
    state = json.loads(
        re.search(r'<script type="application/json" id="work-state">(.*?)</script>', html, re.S).group(1)
    )  # type: ignore[union-attr]
    assert state["filters"] == {"patient_id": None, "discipline": None} and state["limit"] == 50
    assert '<script type="module" src="/static/js/work.js">' in html


async def test_my_work_page_filters_by_patient_and_lane(app: Any, client: httpx.AsyncClient, db: Any) -> None:
    w = await _nurse_with_work(db)
    headers = await cookie(app, db, w["nurse"])
    html = (await client.get(f"/work?patient_id={w['omar']}", headers=headers)).text
    assert HOSTILE.replace("<", "&lt;").replace(">", "&gt;") in html and "UDS overdue" not in html
    assert f'<option value="{w["omar"]}" selected>' in html
    html = (await client.get("/work?discipline=physician", headers=headers)).text
    assert "PDMP check" in html and "UDS overdue" not in html and "Clear filters" in html
    # Nonsense filters are ignored, as a page's other lenient parameters are; another's patient too.
    for query in ("patient_id=abc", "discipline=surgeon", f"patient_id={w['stranger']}", "page=-3"):
        r = await client.get(f"/work?{query}", headers=headers)
        assert r.status_code == 200 and "UDS overdue" in r.text, query


async def test_my_work_page_statements_do_not_grow_with_patients(
    app: Any, client: httpx.AsyncClient, db: Any
) -> None:
    async with db() as s:
        nurse = await make_user(s, discipline=Discipline.nurse)
    headers = await cookie(app, db, nurse.username)

    async def add(n: int) -> None:
        async with db() as s:
            for _ in range(n):
                patient = await make_patient(s, members=[(nurse, TeamRole.member)])
                plan = await make_plan(s, patient)
                s.add_all(Task(plan_id=plan.id or 0, title=f"T{k}", discipline="nurse") for k in range(20))

    async def count() -> int:
        with statements(app, begin=False) as sent:
            r = await client.get("/work", headers=headers)
        assert r.status_code == 200
        return len(sent)

    await add(5)
    await client.get("/work", headers=headers)
    few = await count()
    await add(45)
    assert await count() == few


async def test_the_patient_list_shows_open_and_overdue_tasks(
    app: Any, client: httpx.AsyncClient, db: Any
) -> None:
    w = await _nurse_with_work(db)
    html = (await client.get("/patients", headers=await cookie(app, db, w["nurse"]))).text
    assert '<th scope="col" class="num">Open tasks</th>' in html
    assert '<th scope="col" class="num">Overdue tasks</th>' in html

    def facts(name: str) -> list[str]:
        row = re.search(rf"<tr>\s*<th scope=\"row\"><a [^>]*>{name}</a>.*?</tr>", html, re.S)
        assert row, name
        return re.findall(r'data-fact="[^"]+">([^<]*)<', row.group(0))

    # Ellen: UDS overdue, PDMP check, Refill call, Gait review open (the physio's counts too: the team's
    # state of care), two of them overdue; the completed task is not open.
    assert facts("Ellen Marsh") == ["4", "2", "0"]  # open, overdue tasks; pending referrals
    assert facts("Omar Haddad") == ["1", "0", "0"]
    # An administrator sees every patient but no clinical content: no numbers, a dash.
    async with db() as s:
        from careteam.core.vocab import ClinicRole

        admin = await make_user(s, discipline=Discipline.ipm_lead, role=ClinicRole.admin)
    html = (await client.get("/patients", headers=await cookie(app, db, admin.username))).text
    row = re.search(r"<tr>\s*<th scope=\"row\"><a [^>]*>Ellen Marsh</a>.*?</tr>", html, re.S)
    assert row and 'data-fact="Open tasks"><span aria-hidden="true">\u2013</span>' in row.group(0)


def _csrf(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match
    return match.group(1)


async def test_acknowledging_on_my_work_without_script_clears_it_for_the_discipline(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    from tests.messaging.test_urgent import APIXABAN, add_member, send
    from tests.messaging.world import make_world, plan_events

    w = await make_world(db)
    await add_member(db, w, "physician2", Discipline.physician)
    lead = await login(w.names["lead"])
    m = (await send(client, lead, w, APIXABAN, disciplines=["physician"], any_of_discipline=True)).json()
    mine, colleague = [await cookie(app, db, w.names[who]) for who in ("physician", "physician2")]
    html = (await client.get("/work", headers=mine)).text
    row = f'data-key="message-{m["id"]}"'
    form = f'action="/work/messages/{m["id"]}/ack"'
    assert row in html and form in html
    # The button says which message it acknowledges.
    assert "urgent message: Hold apixaban from Monday" in html
    assert row in (await client.get("/work", headers=colleague)).text
    # Without the session's CSRF token: refused, nothing recorded.
    seen = len(await plan_events(db, w.plan_id))
    r = await client.post(f"/work/messages/{m['id']}/ack", data={"csrf_token": "forged"}, headers=mine)
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]
    assert len(await plan_events(db, w.plan_id)) == seen
    # A message id that cannot be one, or of no message: "not found", as a page, never a 500.
    for bad in ("abc", str(2**31), "999999"):
        r = await client.post(f"/work/messages/{bad}/ack", data={"csrf_token": _csrf(html)}, headers=mine)
        assert r.status_code == 404 and "text/html" in r.headers["content-type"], bad
    # A nurse was not asked: the error page says so, and nothing is recorded.
    nurse = await cookie(app, db, w.names["nurse"])
    token = _csrf((await client.get("/work", headers=nurse)).text)
    r = await client.post(f"/work/messages/{m['id']}/ack", data={"csrf_token": token}, headers=nurse)
    assert r.status_code == 403 and "You are not asked to acknowledge this message." in r.text
    # With it: back to My work, where it is gone; for "any one of the physicians" it left his colleague's too.
    r = await client.post(f"/work/messages/{m['id']}/ack", data={"csrf_token": _csrf(html)}, headers=mine)
    assert r.status_code == 303 and r.headers["location"] == "/work"
    assert row not in (await client.get("/work", headers=mine)).text
    assert row not in (await client.get("/work", headers=colleague)).text
    acked = (await plan_events(db, w.plan_id))[-1]
    assert acked.kind == "message.acknowledged" and acked.actor_id == w.id("physician")
