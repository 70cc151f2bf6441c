"""The PATCH write path under load: few statements, writers of one board in seq order with no gap, and the
committed events handed to this process's hub exactly as the log has them."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import col, select

from careteam.audit.tables import AuditEntry
from careteam.events.tables import StreamEvent
from careteam.patients.codes import TeamRole
from tests.board_world import make_board
from tests.factories import make_patient, make_plan, make_user, of_plan, statements


async def _task(client: Any, headers: dict[str, str], plan_id: int, title: str = "UDS due") -> dict[str, Any]:
    r = await client.post(
        f"/api/v1/plans/{plan_id}/tasks", json={"title": title, "discipline": "nurse"}, headers=headers
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _patch(client: Any, headers: dict[str, str], task: dict[str, Any], **body: Any) -> Any:
    return await client.patch(
        f"/api/v1/tasks/{task['id']}", json=body, headers={**headers, "If-Match": f'W/"{task["version"]}"'}
    )


async def test_a_patch_is_two_statements_on_postgresql_and_five_on_sqlite(
    app: Any, client: Any, db: Any, login: Any, backend: str
) -> None:
    """A card moved within its column: the task (through the permission filter, locked), then the write: on
    PostgreSQL the task row, the audit row, the plan's seq and the event are one statement; SQLite has no
    data-modifying CTEs. The actor comes from the session cache (her token was used just before); nobody's
    worklist changes, so nothing more."""
    b = await make_board(db)
    h = await login(b.nurse)
    task = await _task(client, h, b.plan_id)
    await client.get("/api/v1/me", headers=h)  # the token's last-seen is fresh: no touch below
    with statements(app, begin=False) as seen:
        r = await _patch(client, h, task, position=1.5)
    assert r.status_code == 200, r.text
    assert len(seen) == (2 if backend == "postgres" else 5), seen
    async with db() as s:
        audited = (await s.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc()))).first()
        logged = (await s.exec(select(StreamEvent).order_by(col(StreamEvent.id).desc()))).first()
    assert audited is not None and logged is not None
    assert (audited.action, audited.resource_type, audited.resource_id) == ("update", "task", str(task["id"]))
    assert (audited.patient_id, audited.request_id) == (b.patient_id, r.headers["x-request-id"])
    assert (logged.kind, logged.data) == ("task.moved", r.json())


async def test_what_a_worklist_change_adds_to_a_patch(
    app: Any, client: Any, db: Any, login: Any, backend: str
) -> None:
    """An edit that changes worklists adds one event per clinician whose "My work" changes (one statement
    on PostgreSQL, two on SQLite); an unassigned task's pool (the team's nurses: one) is read with the task,
    unless the task changes lanes: then both lanes are read."""
    b = await make_board(db)
    h = await login(b.nurse)
    task = await _task(client, h, b.plan_id)
    await client.get("/api/v1/me", headers=h)
    per_event = 1 if backend == "postgres" else 2
    base = 2 if backend == "postgres" else 5
    with statements(app, begin=False) as seen:
        r = await _patch(client, h, task, title="UDS due Friday", status="in-progress")
    assert r.status_code == 200, r.text
    assert len(seen) == base + per_event, seen  # the pool of one nurse, read with the task
    with statements(app, begin=False) as seen:
        r = await _patch(client, h, r.json(), discipline="physical_therapist")
    assert r.status_code == 200, r.text
    assert len(seen) == base + 1 + per_event * 2, seen  # both lanes read: nurse and physio, an event each
    r = await _patch(client, h, r.json(), discipline="nurse")
    assert r.status_code == 200, r.text
    task = r.json()
    task = r.json()
    r = await _patch(client, h, task, assignee_id=b.nurse_id)  # she takes it: no notification to herself
    assert r.status_code == 200, r.text
    with statements(app, begin=False) as seen:
        r = await _patch(client, h, r.json(), title="UDS due Monday")
    assert r.status_code == 200, r.text
    assert len(seen) == base + per_event, seen  # assigned before and after: her own worklist, no query


async def test_thirty_writers_on_ten_boards(client: Any, db: Any, login: Any) -> None:
    """The benchmark's shape: every write answers 200, each board's log is gapless, and its events are in
    the order of the versions they carry."""
    async with db() as s:
        nurse = await make_user(s)
        patient = await make_patient(s, members=[(nurse, TeamRole.member)])
        plan_ids = [(await make_plan(s, patient, title=f"Plan {i}")).id or 0 for i in range(10)]
    h = await login(nurse.username)
    lanes = [await _task(client, h, plan_id, f"Lane {k}") for plan_id in plan_ids for k in range(3)]
    statuses: list[int] = []

    async def lane(task: dict[str, Any]) -> None:
        for i in range(8):
            r = await _patch(client, h, task, title=f"{task['title']} write {i}")
            statuses.append(r.status_code)
            if r.status_code == 200:
                task["version"] = r.json()["version"]

    await asyncio.gather(*(lane(t) for t in lanes))
    assert statuses == [200] * 240
    async with db() as s:
        for plan_id in plan_ids:
            query = select(StreamEvent).where(*of_plan(plan_id)).order_by(col(StreamEvent.seq))
            rows = list(await s.exec(query))
            assert [r.seq for r in rows] == list(range(1, 28)), plan_id  # 3 created + 24 updated
            for task_id in {r.data["id"] for r in rows}:
                versions = [r.data["version"] for r in rows if r.data["id"] == task_id]
                assert versions == list(range(1, 10)), (plan_id, task_id)


async def test_the_hub_gets_the_committed_events_as_the_log_has_them_before_the_notice(
    app: Any, client: Any, db: Any, login: Any, monkeypatch: Any
) -> None:
    b = await make_board(db)
    h = await login(b.nurse)
    handed: list[Any] = []
    order: list[str] = []
    hub, broker = app.state.hub, app.state.broker
    committed, publish_many = hub.committed, broker.publish_many

    def spy_committed(rows: Any) -> None:
        order.append("hub")
        handed.extend(rows)
        committed(rows)

    async def spy_publish(notices: Any) -> None:
        order.append("broker")
        await publish_many(notices)

    monkeypatch.setattr(hub, "committed", spy_committed)
    monkeypatch.setattr(broker, "publish_many", spy_publish)
    task = await _task(client, h, b.plan_id)
    r = await _patch(client, h, task, status="in-progress", position=512.5)
    assert r.status_code == 200, r.text
    stale = await _patch(client, h, task, title="too late")  # 412: nothing committed, nothing handed over
    assert stale.status_code == 412
    assert order == ["hub", "broker", "hub", "broker"]
    async with db() as s:
        # Every stream's: the board's, and the worklist refresh on the nurse's own stream (user:<id>).
        logged = list(await s.exec(select(StreamEvent)))
    fields = ("id", "stream_kind", "stream_id", "seq", "kind", "data", "actor_id", "at")
    assert [tuple(getattr(e, f) for f in fields) for e in handed] == [
        tuple(getattr(e, f) for f in fields) for e in sorted(logged, key=lambda e: e.id or 0)
    ]
    assert [(e.stream_kind, e.kind) for e in handed] == [
        ("plan", "task.created"),
        ("user", "work.changed"),
        ("plan", "task.moved"),
        ("user", "work.changed"),
    ]
    assert handed[-1].at.utcoffset() is not None and handed[-1].at.utcoffset().total_seconds() == 0
