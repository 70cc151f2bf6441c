"""Tasks on the board: create, edit, move, concurrency, idempotency, refusals."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from careteam.events.tables import StreamEvent
from careteam.plans.tables import Task
from tests.board_world import make_board


async def _task(client: Any, headers: dict[str, str], plan_id: int, **fields: Any) -> dict[str, Any]:
    body = {"title": "UDS due", "discipline": "nurse", **fields}
    r = await client.post(f"/api/v1/plans/{plan_id}/tasks", json=body, headers=headers)
    assert r.status_code == 201, r.text
    assert r.headers["etag"] == f'W/"{r.json()["version"]}"'
    return dict(r.json())


async def _count(db: Any, model: Any) -> int:
    async with db() as s:
        return int((await s.exec(select(func.count()).select_from(model))).one())


async def test_move_follows_the_fhir_state_machine(client: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    h = await login(b.nurse)
    task = await _task(client, h, b.plan_id)
    for status in ("in-progress", "completed"):
        r = await client.patch(
            f"/api/v1/tasks/{task['id']}",
            json={"status": status},
            headers={**h, "If-Match": f'W/"{task["version"]}"'},
        )
        assert r.status_code == 200, r.text
        task = r.json()
    events_before = await _count(db, StreamEvent)
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"status": "requested"},
        headers={**h, "If-Match": f'W/"{task["version"]}"'},
    )
    assert r.status_code == 409
    problem = r.json()
    assert problem["type"] == "/problems/invalid-transition"
    assert problem["detail"] == (
        "A task in Done is final: it cannot move to To do. Reopen it as a follow-up task instead."
    )
    assert (await client.get(f"/api/v1/tasks/{task['id']}", headers=h)).json()["status"] == "completed"
    assert await _count(db, StreamEvent) == events_before


async def test_refusals_change_nothing(client: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    h = await login(b.nurse)
    task = await _task(client, h, b.plan_id)
    tasks_before, events_before = await _count(db, Task), await _count(db, StreamEvent)
    match = {**h, "If-Match": f'W/"{task["version"]}"'}
    cases = [
        (
            "POST",
            f"/api/v1/plans/{b.plan_id}/tasks",
            {"title": "x", "discipline": "surgeon"},
            h,
            422,
            "body.discipline",
        ),
        (
            "POST",
            f"/api/v1/plans/{b.plan_id}/tasks",
            {"title": "x", "discipline": "nurse", "assignee_id": b.outsider_id},
            h,
            422,
            "assignee_id",
        ),
        ("PATCH", f"/api/v1/tasks/{task['id']}", {"assignee_id": b.outsider_id}, match, 422, "assignee_id"),
        ("PATCH", f"/api/v1/tasks/{task['id']}", {"title": None}, match, 422, "title"),
        ("PATCH", f"/api/v1/tasks/{task['id']}", {"position": "NaN"}, match, 422, "body.position"),
        (
            "POST",
            f"/api/v1/plans/{b.other_plan_id}/tasks",
            {"title": "x", "discipline": "nurse"},
            h,
            404,
            None,
        ),
        ("PATCH", f"/api/v1/tasks/{task['id']}", {"title": "no version"}, h, 428, None),
    ]
    for method, url, body, headers, status, field in cases:
        r = await client.request(method, url, json=body, headers=headers)
        assert r.status_code == status, (url, body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        if field:
            assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert (await _count(db, Task), await _count(db, StreamEvent)) == (tasks_before, events_before)
    outsider = await login(b.outsider)
    assert (await client.get(f"/api/v1/tasks/{task['id']}", headers=outsider)).status_code == 404


async def test_stale_write_gets_412_with_the_current_task(client: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    nurse, physio = await login(b.nurse), await login(b.physio)
    task = await _task(client, nurse, b.plan_id)
    stale = {"If-Match": f'W/"{task["version"]}"'}
    first = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"title": "UDS due Friday"}, headers={**nurse, **stale}
    )
    assert first.status_code == 200
    second = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"title": "UDS cancelled"}, headers={**physio, **stale}
    )
    assert second.status_code == 412
    assert second.json()["current"]["title"] == "UDS due Friday"
    assert second.json()["current"]["version"] == task["version"] + 1
    assert (await client.get(f"/api/v1/tasks/{task['id']}", headers=nurse)).json()[
        "title"
    ] == "UDS due Friday"


async def test_twenty_clients_fifty_conflicting_patches(client: Any, db: Any, login: Any) -> None:
    """Exactly one success per version, every other answer 412, no lost write, no 5xx."""
    b = await make_board(db)
    h = await login(b.nurse)
    task = await _task(client, h, b.plan_id)
    successes: list[tuple[int, str]] = []
    statuses: list[int] = []

    async def worker(n: int) -> None:
        version = task["version"]
        for i in range(50):
            title = f"client {n} write {i}"
            r = await client.patch(
                f"/api/v1/tasks/{task['id']}",
                json={"title": title},
                headers={**h, "If-Match": f'W/"{version}"'},
            )
            statuses.append(r.status_code)
            if r.status_code == 200:
                successes.append((r.json()["version"], title))
                version = r.json()["version"]
            elif r.status_code == 412:
                version = r.json()["current"]["version"]

    await asyncio.gather(*(worker(n) for n in range(20)))
    assert len(statuses) == 1000
    assert set(statuses) <= {200, 412}, sorted(set(statuses))
    versions = sorted(v for v, _ in successes)
    assert versions == list(range(task["version"] + 1, task["version"] + 1 + len(successes)))
    final = (await client.get(f"/api/v1/tasks/{task['id']}", headers=h)).json()
    assert final["version"] == versions[-1]
    assert final["title"] == max(successes)[1]
    r = await client.get(f"/api/v1/plans/{b.plan_id}/events", params={"after": 0, "limit": 1000}, headers=h)
    updates = [e for e in r.json()["items"] if e["kind"] == "task.updated"]
    assert [e["data"]["title"] for e in updates] == [t for _, t in sorted(successes)]


async def test_idempotency_key_creates_once(client: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    h = {**await login(b.nurse), "Idempotency-Key": "create-uds-7f3a"}
    body = {"title": "UDS due", "discipline": "nurse"}
    first = await client.post(f"/api/v1/plans/{b.plan_id}/tasks", json=body, headers=h)
    retry = await client.post(f"/api/v1/plans/{b.plan_id}/tasks", json=body, headers=h)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["etag"] == first.headers["etag"]
    assert await _count(db, Task) == 1
    other = await client.post(f"/api/v1/plans/{b.plan_id}/tasks", json={**body, "title": "PDMP"}, headers=h)
    assert other.status_code == 422
    assert await _count(db, Task) == 1


async def test_filters_and_pagination(client: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    h = await login(b.nurse)
    await _task(client, h, b.plan_id, title="Overdue UDS", due_date="2020-01-01")
    await _task(client, h, b.plan_id, title="Graded walking plan", discipline="physical_therapist")
    await _task(client, h, b.plan_id, title="Mine", assignee_id=b.nurse_id)
    url = f"/api/v1/plans/{b.plan_id}/tasks"
    assert [
        t["title"] for t in (await client.get(url, params={"overdue": True}, headers=h)).json()["items"]
    ] == ["Overdue UDS"]
    physio = (await client.get(url, params={"discipline": "physical_therapist"}, headers=h)).json()
    assert [t["title"] for t in physio["items"]] == ["Graded walking plan"]
    mine = (await client.get(url, params={"assignee_id": b.nurse_id}, headers=h)).json()
    assert [t["title"] for t in mine["items"]] == ["Mine"]
    page = (await client.get(url, params={"limit": 2}, headers=h)).json()
    assert (len(page["items"]), page["total"]) == (2, 3)


async def test_a_new_task_cannot_start_done_or_closed(client: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    h = await login(b.nurse)
    for status in ("completed", "on-hold", "cancelled", "entered-in-error"):
        r = await client.post(
            f"/api/v1/plans/{b.plan_id}/tasks",
            json={"title": "UDS due", "discipline": "nurse", "status": status},
            headers=h,
        )
        assert r.status_code == 409, (status, r.text)
        assert r.json()["type"] == "/problems/invalid-transition"
    assert await _count(db, Task) == 0
    started = await _task(client, h, b.plan_id, status="in-progress")
    assert started["status"] == "in-progress"


async def test_nul_characters_are_refused_naming_the_field(client: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    h = await login(b.nurse)
    r = await client.post(
        f"/api/v1/plans/{b.plan_id}/tasks", json={"title": "UDS\x00due", "discipline": "nurse"}, headers=h
    )
    assert r.status_code == 422 and "body.title" in [e["field"] for e in r.json()["errors"]]
    assert await _count(db, Task) == 0


async def test_an_idempotent_replay_is_a_read_the_actor_must_still_be_allowed(
    client: Any, db: Any, login: Any
) -> None:
    """A clinician taken off the team gets 404 for her old key, not the task; a replay is audited."""
    from careteam.audit.tables import AuditEntry
    from careteam.patients.tables import CareTeamMember

    b = await make_board(db)
    h = {**await login(b.nurse), "Idempotency-Key": "uds-1"}
    body = {"title": "UDS due", "discipline": "nurse"}
    assert (await client.post(f"/api/v1/plans/{b.plan_id}/tasks", json=body, headers=h)).status_code == 201
    async with db() as s:
        reads_before = len((await s.exec(select(AuditEntry).where(AuditEntry.action == "read"))).all())
    replay = await client.post(f"/api/v1/plans/{b.plan_id}/tasks", json=body, headers=h)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    async with db() as s:
        reads = (await s.exec(select(AuditEntry).where(AuditEntry.action == "read"))).all()
        assert len(reads) == reads_before + 1 and reads[-1].resource_type == "care_plan"
        member = (await s.exec(select(CareTeamMember).where(CareTeamMember.user_id == b.nurse_id))).one()
        await s.delete(member)
    gone = await client.post(f"/api/v1/plans/{b.plan_id}/tasks", json=body, headers=h)
    assert gone.status_code == 404
