"""Referrals in "My work" and on the patient list: what waits for an answer, what a lead sent and what is
overdue across her patients."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from careteam.db.types import utcnow
from careteam.events import streams
from careteam.events.tables import StreamEvent
from careteam.referrals import service as referrals
from careteam.referrals.schemas import ReferralUpdate
from tests.referrals.test_pages import cookie
from tests.referrals.world import World, make_world

PCS = "CBT for pain catastrophising (PCS 34)"


async def refer(client: Any, h: dict[str, str], w: World, **body: Any) -> dict[str, Any]:
    payload = {"plan_id": w.plan_id, "discipline": "psychologist", "reason": PCS, **body}
    r = await client.post("/api/v1/referrals", json=payload, headers=h)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_a_pool_referral_is_in_every_pool_members_work_until_one_claims_it(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    referral = await refer(client, await login(w.names["lead"]), w, priority="urgent")
    psy1, psy2 = await login(w.names["psy1"]), await login(w.names["psy2"])
    for h in (psy1, psy2):
        work = (await client.get("/api/v1/me/work", headers=h)).json()
        rows = [i for i in work["items"] if i["kind"] == "referral"]
        assert [(r["id"], r["link"], r["status"]) for r in rows] == [
            (referral["id"], f"/referrals/{referral['id']}", "waiting")
        ]
        assert rows[0]["patient"]["name"] == "Ellen Marsh" and rows[0]["bucket"] == "week"
    # The physio's pool is another: nothing there.
    physio = (await client.get("/api/v1/me/work", headers=await login(w.names["physio"]))).json()
    assert physio["total"] == 0
    await client.post(f"/api/v1/referrals/{referral['id']}/claim", headers=psy1)
    assert [i["status"] for i in (await client.get("/api/v1/me/work", headers=psy1)).json()["items"]] == [
        "claimed"
    ]
    assert (await client.get("/api/v1/me/work", headers=psy2)).json()["total"] == 0
    # Accepted, it is a task on the board, and shows as one.
    await client.post(f"/api/v1/referrals/{referral['id']}/accept", headers=psy1)
    items = (await client.get("/api/v1/me/work", headers=psy1)).json()["items"]
    assert [(i["kind"], i["title"]) for i in items] == [("task", PCS)]


async def test_a_lead_sees_what_she_sent_and_what_is_overdue_across_her_patients(
    app: Any, client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    mine = await refer(client, lead, w)
    by_physician = await refer(client, await login(w.names["physician"]), w, reason="Pre-SCS evaluation")
    # The physician's referral passes its respond-by unanswered.
    async with db() as s:
        await referrals.update_referral(
            s,
            by_physician["id"],
            ReferralUpdate(respond_by=utcnow() + timedelta(minutes=1)),
            expected_version=1,
            actor=await _actor(s, w.id("physician")),
        )
    later = utcnow() + timedelta(hours=1)
    async with db() as s:
        work = await _work_at(s, w.id("lead"), later)
    assert [r.id for r in work.sent] == [mine["id"]]
    assert [(r.id, r.bucket) for r in work.overdue_referrals] == [(by_physician["id"], "overdue")]
    # A nurse refers nothing and oversees nothing: no such sections.
    nurse = (await client.get("/api/v1/me/work", headers=await login(w.names["nurse"]))).json()
    assert nurse["referrer"] is False and nurse["sent"] == [] and nurse["overdue_referrals"] == []
    # The page shows both sections to the lead.
    html = (await client.get("/work", headers=await cookie(app, db, w.names["lead"]))).text
    assert "Referrals I sent" in html and "Overdue referrals across my patients" in html


async def test_the_patient_list_counts_pending_referrals(app: Any, client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    await refer(client, lead, w)
    declined = await refer(client, lead, w, reason="Sleep")
    accepted = await refer(client, lead, w, reason="Mood screening")
    psy = await login(w.names["psy1"])
    await client.post(f"/api/v1/referrals/{declined['id']}/decline", json={"reason": "Full"}, headers=psy)
    await client.post(f"/api/v1/referrals/{accepted['id']}/accept", headers=psy)
    html = (await client.get("/patients", headers=await cookie(app, db, w.names["lead"]))).text
    row = re.search(r"<tr>\s*<th scope=\"row\"><a [^>]*>Ellen Marsh</a>.*?</tr>", html, re.S)
    assert row, html
    # Waiting and declined (back with her) are pending; accepted is on the board as a task.
    assert 'data-fact="Pending referrals">2<' in row.group(0)


async def _actor(session: Any, user_id: int) -> Any:
    from careteam.accounts.tables import User
    from careteam.core.actor import actor_of

    user = await session.get(User, user_id)
    return actor_of(user)


async def _work_at(session: Any, user_id: int, now: datetime) -> Any:
    from careteam.work import service as work

    return await work.list_work(session, actor=await _actor(session, user_id), today=now.date(), now=now)


async def test_the_header_badge_counts_referrals_due_today_and_overdue(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    psy = await login(w.names["psy1"])
    assert (await client.get("/api/v1/me/work/due", headers=psy)).json() == {"overdue": 0, "today": 0}
    # STAT: respond within 8 hours, so due today (or, near midnight, tomorrow: this week, not counted).
    stat = await refer(client, lead, w, priority="stat")
    due = (await client.get("/api/v1/me/work/due", headers=psy)).json()
    today = utcnow().date()
    expected_today = 1 if datetime.fromisoformat(stat["respond_by"]).date() == today else 0
    assert due == {"overdue": 0, "today": expected_today}
    # Claimed by the other psychologist, it is no longer hers to answer.
    await client.post(f"/api/v1/referrals/{stat['id']}/claim", headers=await login(w.names["psy2"]))
    assert (await client.get("/api/v1/me/work/due", headers=psy)).json() == {"overdue": 0, "today": 0}
    assert (await client.get("/api/v1/me/work/due")).status_code == 401


async def test_every_change_reaches_the_streams_of_those_whose_work_it_changes(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])

    async def nudges(who: str) -> int:
        async with db() as s:
            found = await s.exec(
                select(func.count())
                .select_from(StreamEvent)
                .where(
                    col(StreamEvent.stream_kind) == streams.USER,
                    col(StreamEvent.stream_id) == w.id(who),
                    col(StreamEvent.kind) == "work.changed",
                )
            )
            return int(found.one())

    referral = await refer(client, lead, w)
    assert [await nudges(p) for p in ("lead", "psy1", "psy2", "physio")] == [1, 1, 1, 0]
    # psy1 claims: the pool's other member loses it from her work, and hears so; the physio never does.
    await client.post(f"/api/v1/referrals/{referral['id']}/claim", headers=await login(w.names["psy1"]))
    assert [await nudges(p) for p in ("lead", "psy1", "psy2", "physio")] == [2, 2, 2, 0]
    # Sent on to the physios' pool instead: the psychologists and the physio all hear it.
    r = await client.patch(
        f"/api/v1/referrals/{referral['id']}",
        json={"discipline": "physical_therapist", "reason_code": None},
        headers={**lead, "If-Match": 'W/"2"'},
    )
    assert r.status_code == 200, r.text
    assert [await nudges(p) for p in ("lead", "psy1", "psy2", "physio")] == [3, 3, 2, 1]
