"""The inbox's JSON API: anonymous 401, bad input 422 naming the field, and only her own notifications."""

from __future__ import annotations

from typing import Any

from careteam.core.actor import actor_of
from careteam.notifications import service as notifications
from careteam.notifications.codes import NotificationKind
from tests.factories import make_user

URL = "/api/v1/me/notifications"


async def _world(db: Any) -> tuple[str, str, list[int]]:
    """A nurse with three notifications (one from each of three referrals), and a physio with one."""
    async with db() as s:
        lead = await make_user(s)
        nurse = await make_user(s)
        physio = await make_user(s)
        ids = []
        for i in range(3):
            [n] = await notifications.notify(
                s,
                [nurse.id or 0],
                NotificationKind.referral_new,
                title=f"Referral {i}",
                link=f"/referrals/{i}",
                referral_id=i,
                actor=actor_of(lead),
            )
            ids.append(n.id or 0)
        await notifications.notify(
            s, [physio.id or 0], NotificationKind.referral_new, title="For the physio", actor=actor_of(lead)
        )
        return nurse.username, physio.username, ids


async def test_anonymous_is_401(client: Any) -> None:
    for method, body in (("GET", None), ("POST", {"all": True})):
        r = await client.request(method, URL if method == "GET" else f"{URL}/read", json=body)
        assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


async def test_invalid_input_is_422_naming_the_field(client: Any, db: Any, login: Any) -> None:
    nurse, _, _ = await _world(db)
    h = await login(nurse)
    for body, field in (({}, "body.all"), ({"ids": [1], "all": True}, "body.all"), ({"ids": []}, "body.ids")):
        r = await client.post(f"{URL}/read", json=body, headers=h)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in r.json()["errors"]], r.json()
    r = await client.get(URL, params={"limit": 0}, headers=h)
    assert r.status_code == 422 and "query.limit" in [e["field"] for e in r.json()["errors"]]


async def test_she_lists_and_marks_her_own_and_never_sees_anyone_elses(
    client: Any, db: Any, login: Any
) -> None:
    nurse, physio, ids = await _world(db)
    h = await login(nurse)
    r = await client.get(URL, params={"limit": 2}, headers=h)
    assert r.status_code == 200, r.text
    page = r.json()
    assert [n["title"] for n in page["items"]] == ["Referral 2", "Referral 1"]
    assert (page["total"], page["offset"], page["limit"], page["unread"]) == (3, 0, 2, 3)
    assert page["items"][0]["link"] == "/referrals/2" and page["items"][0]["read_at"] is None
    physio_h = await login(physio)
    [theirs] = (await client.get(URL, headers=physio_h)).json()["items"]
    assert theirs["title"] == "For the physio"
    # The physio's id in the nurse's request changes nothing of the physio's.
    r = await client.post(f"{URL}/read", json={"ids": [ids[0], theirs["id"]]}, headers=h)
    assert (r.status_code, r.json()) == (200, {"unread": 2})
    assert (await client.get(URL, headers=physio_h)).json()["unread"] == 1
    unread = (await client.get(URL, params={"unread": "true"}, headers=h)).json()
    assert [n["id"] for n in unread["items"]] == [ids[2], ids[1]] and unread["total"] == 2
    r = await client.post(f"{URL}/read", json={"all": True}, headers=h)
    assert (r.status_code, r.json()) == (200, {"unread": 0})
    everything = (await client.get(URL, headers=h)).json()
    assert everything["unread"] == 0 and all(n["read_at"] for n in everything["items"])
    assert (await client.get(URL, headers=physio_h)).json()["unread"] == 1
