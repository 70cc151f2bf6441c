"""The Messages pages without JavaScript: the list, starting a conversation, replying, "Mark all read", the
care plan threads with unread messages; every form needs the CSRF token, and user text stays text."""

from __future__ import annotations

import re
from typing import Any

from careteam.accounts import sessions as auth_sessions
from tests.factories import PASSWORD
from tests.messaging.world import World, make_world, post

HOSTILE = "<script>alert(1)</script>"


async def _cookie(app: Any, db: Any, username: str) -> tuple[dict[str, str], str]:
    async with db() as s:
        issued = await auth_sessions.login(s, username, PASSWORD, kind="cookie", settings=app.state.settings)
    assert issued is not None
    return {"Cookie": f"{app.state.settings.session_cookie_name}={issued.secret}"}, issued.record.csrf_token


async def _start(client: Any, cookie: dict[str, str], csrf: str, w: World, **form: Any) -> Any:
    data = {"csrf_token": csrf, "participants": [str(w.id("physician"))], "body": "Block done", **form}
    return await client.post("/messages", data=data, headers=cookie)


async def test_a_conversation_started_and_answered_without_javascript(app: Any, client: Any, db: Any) -> None:
    w = await make_world(db)
    nurse, nurse_csrf = await _cookie(app, db, w.names["nurse"])
    page = await client.get("/messages", headers=nurse)
    assert page.status_code == 200
    assert 'aria-current="page">Messages' in page.text and 'id="messages-badge"' in page.text
    assert "Ellen Marsh" in page.text  # her patient, to choose
    assert f'value="{w.id("nurse")}"' not in page.text  # not herself among the participants
    r = await _start(client, nurse, nurse_csrf, w, patient_id=str(w.patient_id), subject=HOSTILE)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert re.fullmatch(r"/messages/\d+", location)
    physician, physician_csrf = await _cookie(app, db, w.names["physician"])
    listed = (await client.get("/messages", headers=physician)).text
    assert HOSTILE not in listed and "&lt;script&gt;alert(1)&lt;/script&gt;" in listed
    assert "1 unread" in listed and "About Ellen Marsh" in listed
    shown = await client.get(location, headers=physician)
    assert shown.status_code == 200 and "<p>Block done</p>" in shown.text
    reply = await client.post(
        location,
        data={"csrf_token": physician_csrf, "body": "Please record **hourly** diary"},
        headers=physician,
    )
    assert reply.status_code == 303 and reply.headers["location"].startswith(f"{location}#message-")
    again = (await client.get(location, headers=nurse)).text
    assert "<p>Please record <strong>hourly</strong> diary</p>" in again
    # A blank reply: the page again, with what to fix, nothing stored.
    blank = await client.post(location, data={"csrf_token": physician_csrf, "body": "  "}, headers=physician)
    assert blank.status_code == 422 and "Please check the form." in blank.text
    # Without the CSRF token: refused.
    forged = await client.post(location, data={"body": "forged"}, headers=physician)
    assert forged.status_code == 403
    assert "forged" not in (await client.get(location, headers=nurse)).text


async def test_the_form_says_what_to_fix(app: Any, client: Any, db: Any) -> None:
    w = await make_world(db)
    nurse, csrf = await _cookie(app, db, w.names["nurse"])
    nobody = await client.post("/messages", data={"csrf_token": csrf, "body": "hi"}, headers=nurse)
    assert nobody.status_code == 422 and "Choose at least one clinician." in nobody.text
    # Someone off the patient's team: the form again, what was written kept.
    off = await _start(
        client,
        nurse,
        csrf,
        w,
        participants=[str(w.id("psy1"))],
        patient_id=str(w.patient_id),
        body="Sleep diary uploaded",
    )
    assert off.status_code == 422
    assert "Everyone in a conversation about a patient must be on her care team." in off.text
    assert "Sleep diary uploaded</textarea>" in off.text
    assert f'value="{w.id("psy1")}" checked' in off.text


async def test_plan_threads_with_unread_messages_and_mark_all_read(app: Any, client: Any, db: Any) -> None:
    w = await make_world(db)
    physician, physician_csrf = await _cookie(app, db, w.names["physician"])
    nurse, nurse_csrf = await _cookie(app, db, w.names["nurse"])
    lead_token = {
        "Authorization": "Bearer "
        + (
            await client.post("/api/v1/auth/token", json={"username": w.names["lead"], "password": PASSWORD})
        ).json()["access_token"]
    }
    assert (
        await post(client, lead_token, f"/plans/{w.plan_id}", "@team conference Thursday")
    ).status_code == 201
    await _start(client, nurse, nurse_csrf, w)
    page = (await client.get("/messages", headers=physician)).text
    assert f'href="/plans/{w.plan_id}#team-thread"' in page and "Team thread:" in page
    unread = (await client.get("/api/v1/me/messages/unread", headers=physician)).json()
    assert unread == {"total": 2, "threads": 1, "conversations": 1}
    done = await client.post("/messages/read-all", data={"csrf_token": physician_csrf}, headers=physician)
    assert done.status_code == 303
    assert (await client.get("/api/v1/me/messages/unread", headers=physician)).json()["total"] == 0
    assert (
        '<p class="empty">Nothing unread in your care plans\' threads.</p>'
        in (await client.get("/messages", headers=physician)).text
    )


async def test_a_conversation_one_may_not_read_is_not_found(app: Any, client: Any, db: Any) -> None:
    w = await make_world(db)
    nurse, csrf = await _cookie(app, db, w.names["nurse"])
    location = (await _start(client, nurse, csrf, w, patient_id=str(w.patient_id))).headers["location"]
    lead, _ = await _cookie(app, db, w.names["lead"])
    r = await client.get(location, headers=lead)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
