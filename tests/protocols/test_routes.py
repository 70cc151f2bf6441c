"""Protocol templates over HTTP: IPM leads keep them (every save a version), the plan's lead or physician
applies one, and the plan then holds exactly the template's goals and tasks."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from careteam.core.vocab import Discipline
from careteam.events.tables import StreamEvent
from careteam.protocols.demo import TEMPLATES
from careteam.protocols.tables import ProtocolApplication
from tests.board_world import make_board
from tests.factories import make_user

SCS = next(t for t in TEMPLATES if t["name"] == "Spinal cord stimulator trial")
FACET = next(t for t in TEMPLATES if t["name"] == "Lumbar facet pathway")


async def _create(client: Any, h: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/api/v1/templates", json=spec, headers=h)
    assert r.status_code == 201, r.text
    assert r.headers["etag"] == 'W/"1"'
    return dict(r.json())


async def _count(db: Any, model: Any) -> int:
    async with db() as s:
        return int((await s.exec(select(func.count()).select_from(model))).one())


async def test_applying_a_template_makes_exactly_its_goals_and_tasks(
    client: Any, db: Any, login: Any
) -> None:
    b = await make_board(db)
    h = await login(b.lead)
    template = await _create(client, h, FACET)
    before = (await client.get(f"/api/v1/plans/{b.plan_id}", headers=h)).json()
    start = date(2027, 1, 4)
    r = await client.post(
        f"/api/v1/plans/{b.plan_id}/apply-template",
        json={"template_id": template["id"], "start_date": start.isoformat()},
        headers=h,
    )
    assert r.status_code == 201, r.text
    applied = r.json()
    assert (applied["template_id"], applied["version"], applied["template_name"]) == (
        template["id"],
        1,
        "Lumbar facet pathway",
    )
    after = (await client.get(f"/api/v1/plans/{b.plan_id}", headers=h)).json()
    old_tasks = {t["id"] for t in before["tasks"]}
    old_goals = {g["id"] for g in before["goals"]}
    new_tasks = {t["id"]: t for t in after["tasks"] if t["id"] not in old_tasks}
    new_goals = {g["id"]: g for g in after["goals"] if g["id"] not in old_goals}
    assert sorted(new_tasks) == sorted(applied["task_ids"])
    assert sorted(new_goals) == sorted(applied["goal_ids"])

    def due(offset: int | None) -> str | None:
        return None if offset is None else (start + timedelta(days=offset)).isoformat()

    # The plan compared with the template: the same goals and tasks, lanes, priorities, due dates, gates.
    goals = [new_goals[i] for i in applied["goal_ids"]]
    assert [(g["description"], g["target"], g["due_date"]) for g in goals] == [
        (g["description"], g["target"], due(g["due_offset_days"])) for g in FACET["goals"]
    ]
    tasks = [new_tasks[i] for i in applied["task_ids"]]
    by_key = {spec["key"]: task["id"] for spec, task in zip(FACET["tasks"], tasks, strict=True)}
    assert [
        (t["title"], t["discipline"], t["priority"], t["due_date"], t["status"], sorted(t["gates"]))
        for t in tasks
    ] == [
        (
            s["title"],
            s["discipline"],
            s.get("priority", "routine"),
            due(s["due_offset_days"]),
            "requested",
            sorted(by_key[g] for g in s["gates"]),
        )
        for s in FACET["tasks"]
    ]
    # The events: one per goal and task, and the application, on the plan's stream.
    r = await client.get(f"/api/v1/plans/{b.plan_id}/events", params={"after": before["last_seq"]}, headers=h)
    kinds = [e["kind"] for e in r.json()["items"]]
    assert kinds.count("goal.created") == len(FACET["goals"])
    assert kinds.count("task.created") == len(FACET["tasks"])
    assert kinds[-1] == "protocol.applied"
    # The gates hold: RFA waits for the decision and the anticoagulation plan.
    rfa = new_tasks[by_key["rfa"]]
    r = await client.patch(
        f"/api/v1/tasks/{rfa['id']}",
        json={"status": "ready"},
        headers={**h, "If-Match": f'W/"{rfa["version"]}"'},
    )
    assert r.status_code == 409
    assert "Decide on RFA after second block" in r.json()["detail"]


async def test_an_edit_is_a_new_version_and_the_applied_plan_keeps_the_old(
    client: Any, db: Any, login: Any
) -> None:
    b = await make_board(db)
    h = await login(b.lead)
    template = await _create(client, h, SCS)
    r = await client.post(
        f"/api/v1/plans/{b.plan_id}/apply-template", json={"template_id": template["id"]}, headers=h
    )
    assert r.status_code == 201, r.text
    edited = {
        **SCS,
        "tasks": [*SCS["tasks"], {"key": "call", "title": "Call after trial", "discipline": "nurse"}],
    }
    r = await client.put(
        f"/api/v1/templates/{template['id']}", json=edited, headers={**h, "If-Match": 'W/"1"'}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.headers["etag"], len(r.json()["tasks"])) == (
        2,
        'W/"2"',
        len(SCS["tasks"]) + 1,
    )
    r = await client.put(
        f"/api/v1/templates/{template['id']}", json=edited, headers={**h, "If-Match": 'W/"1"'}
    )
    assert r.status_code == 412
    old = (await client.get(f"/api/v1/templates/{template['id']}", params={"version": 1}, headers=h)).json()
    assert (old["version"], old["latest_version"], len(old["tasks"])) == (1, 2, len(SCS["tasks"]))
    async with db() as s:
        application = (await s.exec(select(ProtocolApplication))).one()
    assert application.version_id == old["version_id"]
    listed = (await client.get("/api/v1/templates", headers=h)).json()["items"]
    assert [(t["name"], t["version"], t["tasks"]) for t in listed] == [
        ("Spinal cord stimulator trial", 2, len(SCS["tasks"]) + 1)
    ]


async def test_only_ipm_leads_maintain_and_only_planners_apply(client: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    lead = await login(b.lead)
    nurse = await login(b.nurse)
    template = await _create(client, lead, SCS)
    events = await _count(db, StreamEvent)
    r = await client.post("/api/v1/templates", json=SCS, headers=nurse)
    assert r.status_code == 403
    r = await client.put(
        f"/api/v1/templates/{template['id']}", json=SCS, headers={**nurse, "If-Match": 'W/"1"'}
    )
    assert r.status_code == 403
    assert (await client.get(f"/api/v1/templates/{template['id']}", headers=nurse)).status_code == 200
    r = await client.post(
        f"/api/v1/plans/{b.plan_id}/apply-template", json={"template_id": template["id"]}, headers=nurse
    )
    assert r.status_code == 403
    outsider = await login(b.outsider)
    r = await client.post(
        f"/api/v1/plans/{b.plan_id}/apply-template", json={"template_id": template["id"]}, headers=outsider
    )
    assert r.status_code == 404
    # A physician on the team applies; a draft or unknown template is a field error.
    async with db() as s:
        physician = await make_user(s, discipline=Discipline.physician)
    r = await client.post(
        f"/api/v1/patients/{b.patient_id}/care-team/members", json={"user_id": physician.id}, headers=lead
    )
    assert r.status_code == 201, r.text
    events = await _count(db, StreamEvent)
    doc = await login(physician.username)
    draft = await _create(client, lead, {**SCS, "name": "Draft SCS", "status": "draft"})
    for template_id in (draft["id"], 999_999):
        r = await client.post(
            f"/api/v1/plans/{b.plan_id}/apply-template", json={"template_id": template_id}, headers=doc
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "body.template_id"
    assert await _count(db, StreamEvent) == events
    r = await client.post(
        f"/api/v1/plans/{b.plan_id}/apply-template", json={"template_id": template["id"]}, headers=doc
    )
    assert r.status_code == 201, r.text


async def test_a_template_with_a_circle_or_an_unknown_gate_is_refused(
    client: Any, db: Any, login: Any
) -> None:
    b = await make_board(db)
    h = await login(b.lead)
    bad_gate = {**SCS, "tasks": [{"key": "a", "title": "A", "discipline": "nurse", "gates": ["zz"]}]}
    circle = {
        **SCS,
        "tasks": [
            {"key": "a", "title": "A", "discipline": "nurse", "gates": ["b"]},
            {"key": "b", "title": "B", "discipline": "nurse", "gates": ["a"]},
        ],
    }
    for body in (bad_gate, circle, {**SCS, "tasks": []}):
        r = await client.post("/api/v1/templates", json=body, headers=h)
        assert r.status_code == 422, r.text
    assert (await client.get("/api/v1/templates", headers=h)).json()["items"] == []
