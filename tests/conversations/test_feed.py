"""The stream ``conversation:<id>`` over a real websocket: its participants subscribe, anyone else is told
"not found", and a participant taken off the patient's care team is told she may no longer read it and gets
none of its later events."""

from __future__ import annotations

from typing import Any

import pytest

from careteam.conversations.feed import FEED
from careteam.patients.codes import TeamRole
from tests.factories import make_patient, make_user
from tests.realtime.conftest import Open, Viewer, live_server, open_viewer  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("live_server")


async def _subscribe(viewer: Viewer, conversation_id: int, after: int | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "subscribe", "stream": f"conversation:{conversation_id}"}
    if after is not None:
        frame["after"] = after
    await viewer.send(frame)
    return await viewer.recv()


@pytest.fixture
def settings(settings: Any) -> Any:
    return settings.model_copy(update={"ws_access_recheck_seconds": 0.2})


async def test_participants_follow_it_and_others_are_refused(
    app: Any,
    db: Any,
    client: Any,
    login: Any,
    open_viewer: Open,  # noqa: F811
) -> None:
    async with db() as s:
        nurse = await make_user(s, "conv-nurse")
        physician = await make_user(s, "conv-physician")
        lead = await make_user(s, "conv-lead")
        patient = await make_patient(
            s, members=[(lead, TeamRole.lead), (nurse, TeamRole.member), (physician, TeamRole.member)]
        )
    nurse_headers, physician_headers, lead_headers = [
        await login(u.username) for u in (nurse, physician, lead)
    ]
    started = await client.post(
        "/api/v1/conversations",
        json={"participants": [physician.id], "patient_id": patient.id, "body": "Block done"},
        headers=nurse_headers,
    )
    cid = started.json()["id"]
    watcher = await open_viewer(physician_headers)
    assert await _subscribe(watcher, cid) == {
        "type": "subscribed",
        "stream": f"conversation:{cid}",
        "last_seq": 1,
    }
    stranger = await open_viewer(lead_headers)
    refused = await _subscribe(stranger, cid)
    assert refused["type"] == "error" and refused["code"] == "not_found"
    # A message arrives live.
    await client.post(
        f"/api/v1/conversations/{cid}/messages", json={"body": "70% relief"}, headers=nurse_headers
    )
    (event,) = await watcher.events(1)
    assert event["kind"] == "conversation.message.created" and event["data"]["body"] == "70% relief"
    # Taken off the team: the re-check ends her subscription, and the feed no longer counts her a reader.
    team = (await client.get(f"/api/v1/patients/{patient.id}/care-team", headers=lead_headers)).json()
    member = next(m for m in team["members"] if m["user_id"] == physician.id)
    removed = await client.delete(
        f"/api/v1/patients/{patient.id}/care-team/members/{member['id']}",
        headers={**lead_headers, "If-Match": f'W/"{team["version"]}"'},
    )
    assert removed.status_code == 200
    async with db() as s:
        readers = await (await s.connection()).execute(FEED.readers([cid]))
        assert {tuple(row) for row in readers} == {(cid, nurse.id)}
    gone = await watcher.recv()
    assert gone["type"] == "error" and gone["code"] == "forbidden" and gone["stream"] == f"conversation:{cid}"
    await client.post(f"/api/v1/conversations/{cid}/messages", json={"body": "after"}, headers=nurse_headers)
    await watcher.quiet(app)
    again = await _subscribe(watcher, cid)
    assert again["type"] == "error" and again["code"] == "not_found"
