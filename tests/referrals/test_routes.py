"""Referrals over the JSON API: who may refer, claim and answer; the claim race; closing the loop."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select

from careteam.referrals.codes import ReferralEvent
from tests.referrals.world import World, count_events, make_world, plan_events

PCS = "CBT for pain catastrophising (PCS 34)"


async def refer(client: Any, h: dict[str, str], w: World, **body: Any) -> Any:
    payload = {
        "plan_id": w.plan_id,
        "discipline": "psychologist",
        "reason": PCS,
        "priority": "routine",
        **body,
    }
    return await client.post("/api/v1/referrals", json=payload, headers=h)


async def test_the_lead_refers_to_the_pool_and_the_board_shows_it(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    r = await refer(client, await login(w.names["lead"]), w, reason_code="cbt-pain")
    assert r.status_code == 201, r.text
    referral = r.json()
    assert referral["status"] == "active" and referral["answer"] is None and referral["phase"] == "waiting"
    assert referral["patient"]["name"] == "Ellen Marsh" and referral["on_team"] is True
    assert r.headers["Location"] == f"/api/v1/referrals/{referral['id']}"
    created = datetime.fromisoformat(referral["created_at"])
    assert datetime.fromisoformat(referral["respond_by"]) - created == timedelta(days=14)
    events = await plan_events(db, w.plan_id)
    assert [e.kind for e in events] == [ReferralEvent.created]
    assert events[0].data["id"] == referral["id"]


async def test_only_the_lead_or_a_physician_refers(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    assert (await refer(client, await login(w.names["physician"]), w)).status_code == 201
    nurse = await refer(client, await login(w.names["nurse"]), w)
    assert nurse.status_code == 403 and nurse.headers["content-type"] == "application/problem+json"
    # Another team's lead names a plan that is not hers: a field error, as for opening a plan.
    outsider = await refer(client, await login(w.names["outsider"]), w)
    assert outsider.status_code == 422 and outsider.json()["errors"][0]["field"] == "plan_id"
    assert await count_events(db, w.plan_id) == 1


async def test_bad_input_names_the_field_and_changes_nothing(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    h = await login(w.names["lead"])
    cases = {
        "reason_code": {"reason_code": "return-to-work"},  # an OT reason sent to psychology
        "assignee_id": {"assignee_id": w.id("physio")},  # not a psychologist
        "respond_by": {"respond_by": "2020-01-01T00:00:00Z"},
        "priority": {"priority": "whenever"},
        "reason": {"reason": "   "},
        "status": {"status": "completed"},
    }
    for field, body in cases.items():
        r = await refer(client, h, w, **body)
        assert r.status_code == 422, (field, r.text)
        assert any(field in e["field"] for e in r.json()["errors"]), (field, r.json())
    assert await count_events(db, w.plan_id) == 0
    assert (await client.get("/api/v1/referrals", headers=h)).json()["total"] == 0


async def test_pool_members_off_the_team_see_the_minimal_card_and_others_nothing(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    referral = (await refer(client, await login(w.names["lead"]), w)).json()
    psy = await login(w.names["psy1"])
    card = await client.get(f"/api/v1/referrals/{referral['id']}", headers=psy)
    assert card.status_code == 200
    assert card.json()["on_team"] is False and card.json()["patient"]["name"] == "Ellen Marsh"
    assert card.json()["patient"]["age"] >= 0
    assert (await client.get(f"/api/v1/plans/{w.plan_id}", headers=psy)).status_code == 404
    listed = (await client.get("/api/v1/referrals?pool=true", headers=psy)).json()
    assert [i["id"] for i in listed["items"]] == [referral["id"]]
    for other in ("physio", "outsider"):
        h = await login(w.names[other])
        assert (await client.get(f"/api/v1/referrals/{referral['id']}", headers=h)).status_code == 404
        assert (await client.get("/api/v1/referrals", headers=h)).json()["total"] == 0
        claim = await client.post(f"/api/v1/referrals/{referral['id']}/claim", headers=h)
        assert claim.status_code == 404


async def test_ten_concurrent_claims_exactly_one_wins(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db, pool_size=10)
    referral = (await refer(client, await login(w.names["lead"]), w)).json()
    pool = [f"psy{n}" for n in range(1, 11)]
    headers = [await login(w.names[p]) for p in pool]
    before = await count_events(db, w.plan_id)

    async def claim(h: dict[str, str]) -> Any:
        return await client.post(f"/api/v1/referrals/{referral['id']}/claim", headers=h)

    answers = await asyncio.gather(*(claim(h) for h in headers))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 9, statuses
    winner = next(a.json() for a in answers if a.status_code == 200)
    winner_name = winner["claimed_by"]["display_name"]
    for lost in (a for a in answers if a.status_code == 409):
        assert lost.headers["content-type"] == "application/problem+json"
        assert winner_name in lost.json()["detail"]
    assert await count_events(db, w.plan_id) == before + 1


async def test_accepting_joins_the_team_and_puts_a_task_in_the_lane(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    referral = (await refer(client, lead, w)).json()
    psy = await login(w.names["psy1"])
    claimed = await client.post(f"/api/v1/referrals/{referral['id']}/claim", headers=psy)
    assert claimed.json()["phase"] == "claimed"
    # The other psychologist cannot answer what psy1 holds.
    other = await client.post(
        f"/api/v1/referrals/{referral['id']}/accept", headers=await login(w.names["psy2"])
    )
    assert other.status_code == 409
    accepted = await client.post(f"/api/v1/referrals/{referral['id']}/accept", headers=psy)
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["answer"] == "accepted" and body["on_team"] is True and len(body["task_ids"]) == 1
    board = await client.get(f"/api/v1/plans/{w.plan_id}", headers=psy)
    assert board.status_code == 200
    task = next(t for t in board.json()["tasks"] if t["id"] == body["task_ids"][0])
    assert task["discipline"] == "psychologist" and task["assignee_id"] == w.id("psy1")
    assert task["referral_id"] == referral["id"] and task["title"] == PCS
    assert w.id("psy1") in [m["user_id"] for m in board.json()["members"]]
    kinds = [e.kind for e in await plan_events(db, w.plan_id)]
    assert kinds[-1] == ReferralEvent.accepted and "task.created" in kinds and "team.updated" in kinds


async def test_declining_needs_a_reason_and_goes_back_to_the_requester(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    referral = (await refer(client, lead, w)).json()
    psy = await login(w.names["psy1"])
    before = await count_events(db, w.plan_id)
    for body in ({}, {"reason": ""}, {"reason": "  "}):
        r = await client.post(f"/api/v1/referrals/{referral['id']}/decline", json=body, headers=psy)
        assert r.status_code == 422 and r.json()["errors"][0]["field"].endswith("reason"), r.text
    assert await count_events(db, w.plan_id) == before
    unchanged = (await client.get(f"/api/v1/referrals/{referral['id']}", headers=lead)).json()
    assert unchanged["version"] == referral["version"] and unchanged["answer"] is None
    declined = await client.post(
        f"/api/v1/referrals/{referral['id']}/decline", json={"reason": "Seen last month."}, headers=psy
    )
    assert declined.status_code == 200 and declined.json()["phase"] == "declined"
    seen = (await client.get(f"/api/v1/referrals/{referral['id']}", headers=lead)).json()
    assert seen["decline_reason"] == "Seen last month." and seen["answer"] == "declined"
    # Back with the requester: she sends it to a named psychologist instead; the decline is cleared.
    rerouted = await client.patch(
        f"/api/v1/referrals/{referral['id']}",
        json={"assignee_id": w.id("psy2")},
        headers={**lead, "If-Match": f'W/"{seen["version"]}"'},
    )
    assert rerouted.status_code == 200, rerouted.text
    assert rerouted.json()["answer"] is None and rerouted.json()["claimed_by"]["id"] == w.id("psy2")
    # Named: psy1 may no longer answer it.
    refused = await client.post(f"/api/v1/referrals/{referral['id']}/accept", headers=psy)
    assert refused.status_code in (403, 404)


async def test_illegal_transitions_are_refused_and_change_nothing(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    psy = await login(w.names["psy1"])
    referral = (await refer(client, lead, w)).json()
    rid = referral["id"]
    before = await count_events(db, w.plan_id)
    refused = [
        await client.post(f"/api/v1/referrals/{rid}/complete", json={"outcome": "done"}, headers=psy),
        await client.patch(
            f"/api/v1/referrals/{rid}", json={"status": "completed"}, headers={**lead, "If-Match": 'W/"1"'}
        ),
        await client.post(f"/api/v1/referrals/{rid}/claim", headers=lead),  # not a psychologist
        await client.post(f"/api/v1/referrals/{rid}/revoke", json={"reason": "x"}, headers=psy),
    ]
    for r in refused:
        assert r.status_code in (403, 409), r.text
        assert r.headers["content-type"] == "application/problem+json"
    assert await count_events(db, w.plan_id) == before
    assert (
        await client.post(f"/api/v1/referrals/{rid}/revoke", json={"reason": "Moved away"}, headers=lead)
    ).status_code == 200
    after_revoke = await count_events(db, w.plan_id)
    for r in [
        await client.post(f"/api/v1/referrals/{rid}/revoke", json={"reason": "again"}, headers=lead),
        await client.patch(
            f"/api/v1/referrals/{rid}", json={"status": "active"}, headers={**lead, "If-Match": 'W/"2"'}
        ),
    ]:
        assert r.status_code == 409, r.text
    # A revoked referral has left the pool: to its members it no longer exists.
    assert (await client.post(f"/api/v1/referrals/{rid}/claim", headers=psy)).status_code == 404
    assert await count_events(db, w.plan_id) == after_revoke


async def test_a_stale_patch_is_412_with_the_current_referral(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    referral = (await refer(client, lead, w)).json()
    stale = {**lead, "If-Match": f'W/"{referral["version"]}"'}
    assert (
        await client.patch(f"/api/v1/referrals/{referral['id']}", json={"priority": "urgent"}, headers=stale)
    ).status_code == 200
    r = await client.patch(f"/api/v1/referrals/{referral['id']}", json={"priority": "stat"}, headers=stale)
    assert r.status_code == 412 and r.json()["current"]["priority"] == "urgent"


async def test_completing_sends_the_outcome_back_and_revoking_cancels_open_tasks(
    client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    lead = await login(w.names["lead"])
    psy = await login(w.names["psy1"])
    done = (await refer(client, lead, w)).json()
    await client.post(f"/api/v1/referrals/{done['id']}/accept", headers=psy)
    completed = await client.post(
        f"/api/v1/referrals/{done['id']}/complete", json={"outcome": "6 sessions; PCS 34 -> 18."}, headers=psy
    )
    assert completed.status_code == 200 and completed.json()["status"] == "completed"
    seen = (await client.get(f"/api/v1/referrals/{done['id']}", headers=lead)).json()
    assert seen["outcome"] == "6 sessions; PCS 34 -> 18." and seen["phase_seconds"].keys() >= {"waiting"}

    revoked = (await refer(client, lead, w, reason="Pre-SCS psychological evaluation")).json()
    accepted = (await client.post(f"/api/v1/referrals/{revoked['id']}/accept", headers=psy)).json()
    task_id = accepted["task_ids"][0]
    r = await client.post(
        f"/api/v1/referrals/{revoked['id']}/revoke", json={"reason": "SCS trial off"}, headers=lead
    )
    assert (
        r.status_code == 200
        and r.json()["status"] == "revoked"
        and r.json()["revoke_reason"] == "SCS trial off"
    )
    task = (await client.get(f"/api/v1/tasks/{task_id}", headers=lead)).json()
    assert task["status"] == "cancelled"


async def test_an_administrator_is_in_no_pool(client: Any, db: Any, login: Any) -> None:
    """A pool is its discipline's clinicians: an administrator of that discipline is neither told of a pool
    referral nor shown it (she reads clinical content only on her own care teams)."""
    from careteam.core.vocab import ClinicRole, Discipline
    from careteam.notifications.tables import Notification
    from tests.factories import make_user

    w = await make_world(db)
    async with db() as s:
        admin = await make_user(s, discipline=Discipline.psychologist, role=ClinicRole.admin)
    referral = (await refer(client, await login(w.names["lead"]), w)).json()
    h = await login(admin.username)
    assert (await client.get(f"/api/v1/referrals/{referral['id']}", headers=h)).status_code == 404
    assert (await client.get("/api/v1/referrals?pool=true", headers=h)).json()["total"] == 0
    assert (await client.get("/api/v1/me/work", headers=h)).json()["total"] == 0
    assert (await client.post(f"/api/v1/referrals/{referral['id']}/claim", headers=h)).status_code == 404
    async with db() as s:
        told = (
            await s.exec(select(Notification.user_id).where(Notification.referral_id == referral["id"]))
        ).all()
    assert admin.id not in told and {w.id("psy1"), w.id("psy2")} <= set(told)
