"""Readiness gates: a procedure task waits for its gate tasks by every route through the state machine."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import select

from careteam.events.tables import StreamEvent
from careteam.plans.tasks import gate_cycle
from tests.board_world import make_board

WAITS = "This task waits for its gates \u201cPsychological clearance\u201d, \u201cImaging reviewed\u201d"


async def _task(client: Any, h: dict[str, str], plan_id: int, title: str, **fields: Any) -> dict[str, Any]:
    body = {"title": title, "discipline": "physician", **fields}
    r = await client.post(f"/api/v1/plans/{plan_id}/tasks", json=body, headers=h)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _if(h: dict[str, str], task: dict[str, Any]) -> dict[str, str]:
    return {**h, "If-Match": f'W/"{task["version"]}"'}


async def _patch(client: Any, h: dict[str, str], task: dict[str, Any], **body: Any) -> Any:
    return await client.patch(f"/api/v1/tasks/{task['id']}", json=body, headers=_if(h, task))


async def _gate(
    client: Any, h: dict[str, str], task: dict[str, Any], *gates: dict[str, Any]
) -> dict[str, Any]:
    r = await client.put(
        f"/api/v1/tasks/{task['id']}/gates",
        json={"gate_task_ids": [g["id"] for g in gates]},
        headers=_if(h, task),
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _events(db: Any) -> int:
    async with db() as s:
        return int((await s.exec(select(func.count()).select_from(StreamEvent))).one())


async def _world(
    client: Any, db: Any, login: Any
) -> tuple[Any, dict[str, str], dict[str, Any], list[dict[str, Any]]]:
    b = await make_board(db)
    h = await login(b.lead)
    psych = await _task(client, h, b.plan_id, "Psychological clearance", discipline="psychologist")
    imaging = await _task(
        client, h, b.plan_id, "Imaging reviewed", link="https://pacs.example.org/studies/MRI-T-2291"
    )
    scs = await _task(client, h, b.plan_id, "SCS trial")
    scs = await _gate(client, h, scs, imaging, psych)
    return b, h, scs, [psych, imaging]


async def test_a_gated_task_refuses_to_become_ready_start_or_complete_naming_its_open_gates(
    client: Any, db: Any, login: Any
) -> None:
    b, h, scs, (psych, imaging) = await _world(client, db, login)
    assert scs["gates"] == sorted([psych["id"], imaging["id"]])
    assert imaging["link"] == "https://pacs.example.org/studies/MRI-T-2291"
    before = await _events(db)
    # PATCH status (the API), and status + position (the board's drag and Move menu).
    for body in ({"status": "ready"}, {"status": "in-progress"}, {"status": "in-progress", "position": 5.0}):
        r = await _patch(client, h, scs, **body)
        assert r.status_code == 409, r.text
        assert r.json()["type"] == "/problems/invalid-transition"
        assert r.json()["detail"].startswith(WAITS), r.json()["detail"]
    assert await _events(db) == before
    # One gate done: the message names only the other.
    psych = (await _patch(client, h, psych, status="in-progress")).json()
    psych = (await _patch(client, h, psych, status="completed")).json()
    r = await _patch(client, h, scs, status="in-progress")
    assert r.status_code == 409
    assert "\u201cImaging reviewed\u201d" in r.json()["detail"]
    assert "Psychological" not in r.json()["detail"]
    # The board's read carries the gates too.
    board = (await client.get(f"/api/v1/plans/{b.plan_id}", headers=h)).json()
    assert next(t for t in board["tasks"] if t["id"] == scs["id"])["gates"] == scs["gates"]
    # Completing the last gate lets it move, then complete.
    imaging = (await _patch(client, h, imaging, status="in-progress")).json()
    imaging = (await _patch(client, h, imaging, status="completed")).json()
    scs = (await client.get(f"/api/v1/tasks/{scs['id']}", headers=h)).json()
    r = await _patch(client, h, scs, status="ready")
    assert r.status_code == 200, r.text
    r = await _patch(client, h, r.json(), status="in-progress")
    assert r.status_code == 200, r.text
    r = await _patch(client, h, r.json(), status="completed")
    assert r.status_code == 200, r.text


async def test_complete_is_refused_when_a_gate_is_added_to_a_task_under_way(
    client: Any, db: Any, login: Any
) -> None:
    b = await make_board(db)
    h = await login(b.lead)
    rfa = await _task(client, h, b.plan_id, "RFA L4-L5")
    rfa = (await _patch(client, h, rfa, status="in-progress")).json()
    anticoag = await _task(client, h, b.plan_id, "Anticoagulation plan", discipline="nurse")
    rfa = await _gate(client, h, rfa, anticoag)
    r = await _patch(client, h, rfa, status="completed")
    assert r.status_code == 409
    assert "\u201cAnticoagulation plan\u201d" in r.json()["detail"]


async def test_undo_and_reopen_wait_for_the_gates_too(client: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    h = await login(b.lead)
    rfa = await _task(client, h, b.plan_id, "RFA L4-L5", status="ready")
    rfa = (await _patch(client, h, rfa, status="cancelled", status_reason="Patient unwell")).json()
    anticoag = await _task(client, h, b.plan_id, "Anticoagulation plan", discipline="nurse")
    rfa = await _gate(client, h, rfa, anticoag)
    # Undo would put it back to ready: refused while the gate is open.
    r = await client.post(f"/api/v1/tasks/{rfa['id']}/undo", headers=_if(h, rfa))
    assert r.status_code == 409, r.text
    assert "\u201cAnticoagulation plan\u201d" in r.json()["detail"]
    # Reopen: the follow-up keeps the gates and waits in To do as requested, not ready.
    r = await client.post(f"/api/v1/tasks/{rfa['id']}/reopen", headers=h)
    assert r.status_code == 201, r.text
    follow_up = r.json()
    assert (follow_up["status"], follow_up["gates"]) == ("requested", [anticoag["id"]])
    r = await _patch(client, h, follow_up, status="ready")
    assert r.status_code == 409
    # The gate done, undoing its completion is refused once a task it gates is under way.
    anticoag = (await _patch(client, h, anticoag, status="in-progress")).json()
    anticoag = (await _patch(client, h, anticoag, status="completed")).json()
    follow_up = (await _patch(client, h, follow_up, status="ready")).json()
    assert follow_up["status"] == "ready"
    r = await client.post(f"/api/v1/tasks/{anticoag['id']}/undo", headers=_if(h, anticoag))
    assert r.status_code == 409
    assert "RFA L4-L5" in r.json()["detail"]


async def test_gates_must_be_other_tasks_of_the_plan_without_a_circle(
    client: Any, db: Any, login: Any
) -> None:
    b, h, scs, (psych, _imaging) = await _world(client, db, login)
    other_h = await login(b.outsider)
    stranger = await _task(client, other_h, b.other_plan_id, "Someone else's task")
    before = await _events(db)
    cases = [
        (scs, [scs["id"]], "own gate"),
        (scs, [stranger["id"]], "same care plan"),
        (scs, [999_999], "same care plan"),
        (psych, [scs["id"]], "circle"),
    ]
    for task, ids, words in cases:
        r = await client.put(
            f"/api/v1/tasks/{task['id']}/gates", json={"gate_task_ids": ids}, headers=_if(h, task)
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "body.gate_task_ids"
        assert words in r.json()["detail"], r.json()["detail"]
    for body in ({}, {"gate_task_ids": "x"}, {"gate_task_ids": [0]}):
        r = await client.put(f"/api/v1/tasks/{scs['id']}/gates", json=body, headers=_if(h, scs))
        assert r.status_code == 422
    r = await client.put(f"/api/v1/tasks/{scs['id']}/gates", json={"gate_task_ids": []}, headers=h)
    assert r.status_code == 428
    r = await client.put(
        f"/api/v1/tasks/{scs['id']}/gates", json={"gate_task_ids": []}, headers={**h, "If-Match": 'W/"1"'}
    )
    assert r.status_code == 412
    r = await client.put(
        f"/api/v1/tasks/{scs['id']}/gates", json={"gate_task_ids": []}, headers=_if(other_h, scs)
    )
    assert r.status_code == 404
    assert await _events(db) == before
    # Removing every gate lets it start.
    scs = await _gate(client, h, scs)
    assert scs["gates"] == []
    assert (await _patch(client, h, scs, status="in-progress")).status_code == 200


def test_gate_cycle_finds_a_circle_and_only_a_circle() -> None:
    assert gate_cycle({1: [2]}, [(2, 3), (3, 1)]) == [1, 2, 3, 1]
    assert gate_cycle({1: [2, 3]}, [(2, 3), (4, 1)]) is None
    assert gate_cycle({1: [2]}, [(1, 3), (3, 1)]) is None  # task 1's old gates are replaced
