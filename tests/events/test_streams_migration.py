"""The event-log migration (0004): plan events and each plan's last_seq move to stream keys with every id and
seq kept, so a board that was open before the upgrade resumes after it with no gap and no duplicate."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa
from websockets.asyncio.client import connect

from careteam.accounts.passwords import hash_password
from careteam.accounts.tables import User
from careteam.app import create_app
from careteam.db.engine import make_engine, make_sessionmaker, unit_of_work
from careteam.patients.codes import TeamRole
from careteam.settings import Settings
from tests.db.test_migrations import empty_database, upgrade
from tests.factories import PASSWORD, make_patient
from tests.live import LiveServer

BEFORE = "0003"  # the last revision with plan_event and care_plan.last_seq


async def _old_clinic(url: str) -> tuple[str, int, list[dict[str, Any]]]:
    """At revision 0003: a nurse, her patient, a plan with five events (as the demo's boards have)."""
    engine = make_engine(url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            # The account as 0003 stored it (the model has columns added since: must_change_password).
            nurse_id = (
                await s.exec(
                    sa.text(
                        "INSERT INTO user_account (username, display_name, discipline, role, password_hash, "
                        "active, version, created_at) "
                        "VALUES ('old.nurse', 'Old Nurse', 'nurse', 'clinician', :hash, true, 1, :at) "
                        "RETURNING id"
                    ),
                    params={"hash": hash_password(PASSWORD), "at": datetime(2026, 11, 20, tzinfo=UTC)},
                )
            ).scalar_one()
            nurse = User(
                id=nurse_id,
                username="old.nurse",
                display_name="Old Nurse",
                discipline="nurse",
                password_hash="",
            )
            patient = await make_patient(s, members=[(nurse, TeamRole.lead)])
            at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
            plan_id = (
                await s.exec(
                    sa.text(
                        "INSERT INTO care_plan (patient_id, title, description, status, version, last_seq, "
                        "created_at, updated_at) VALUES (:p, 'Chronic low back pain', '', 'active', 1, 5, "
                        ":at, :at) RETURNING id"
                    ),
                    params={"p": patient.id, "at": at},
                )
            ).scalar_one()
            old = [
                {
                    "id": 10 + seq,
                    "seq": seq,
                    "kind": "task.created",
                    "data": {"id": seq, "title": f"Task {seq}"},
                }
                for seq in range(1, 6)
            ]
            for row in old:
                await s.exec(
                    sa.text(
                        "INSERT INTO plan_event (id, plan_id, seq, kind, data, actor_id, at) "
                        "VALUES (:id, :plan, :seq, :kind, :data, :actor, :at)"
                    ),
                    params={
                        **row,
                        "plan": plan_id,
                        "data": json.dumps(row["data"]),
                        "actor": nurse.id,
                        "at": at,
                    },
                )
            return nurse.username, int(plan_id), old
    finally:
        await engine.dispose()


async def test_a_board_open_before_the_upgrade_resumes_after_it(backend: str, tmp_path: Path) -> None:
    async with empty_database(backend, tmp_path) as url:
        await upgrade(url, BEFORE)
        username, plan_id, old = await _old_clinic(url)
        await upgrade(url)

        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                head = (
                    await conn.execute(sa.text("SELECT stream_kind, stream_id, last_seq FROM stream"))
                ).all()
                moved = (
                    await conn.execute(
                        sa.text("SELECT id, stream_kind, stream_id, seq, kind FROM stream_event")
                    )
                ).all()
        finally:
            await engine.dispose()
        assert [tuple(r) for r in head] == [("plan", plan_id, 5)]
        assert sorted(tuple(r) for r in moved) == [
            (e["id"], "plan", plan_id, e["seq"], e["kind"]) for e in old
        ]

        settings = Settings(
            database_url=url,
            broker_url="memory://",
            secret_key="migration-test-secret-0123456789abcdef",
            jobs_enabled=False,
            _env_file=None,  # type: ignore[call-arg]
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            server = LiveServer(app, settings)
            await server.start()
            try:
                async with httpx.AsyncClient(base_url=server.url) as client:
                    r = await client.post(
                        "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
                    )
                    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
                    board = (await client.get(f"/api/v1/plans/{plan_id}", headers=headers)).json()
                    assert board["last_seq"] == 5 and board["plan"]["last_seq"] == 5
                    # The tab saw seq 3 before the upgrade; it resumes from there.
                    ws_url = server.url.replace("http", "ws") + "/ws"
                    async with connect(ws_url, additional_headers=headers) as ws:
                        await ws.send(
                            orjson.dumps({"type": "subscribe", "plan_id": plan_id, "after": 3}).decode()
                        )
                        frames = [orjson.loads(await ws.recv()) for _ in range(3)]
                        assert frames[0]["type"] == "subscribed" and frames[0]["last_seq"] == 5
                        assert [(f["seq"], f["data"]) for f in frames[1:]] == [
                            (4, old[3]["data"]),
                            (5, old[4]["data"]),
                        ]
                        created = await client.post(
                            f"/api/v1/plans/{plan_id}/tasks",
                            json={"title": "UDS due", "discipline": "nurse"},
                            headers=headers,
                        )
                        assert created.status_code == 201, created.text
                        frame = orjson.loads(await ws.recv())
                        while frame["type"] == "heartbeat":
                            frame = orjson.loads(await ws.recv())
                        assert (frame["type"], frame["seq"], frame["kind"]) == ("event", 6, "task.created")
                    history = (await client.get(f"/api/v1/plans/{plan_id}/events", headers=headers)).json()
                    assert [e["seq"] for e in history["items"]] == [1, 2, 3, 4, 5, 6]
            finally:
                await server.stop()
        # New events take ids after the moved ones (PostgreSQL's sequence was moved on).
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                newest = (
                    await conn.execute(sa.text("SELECT id FROM stream_event WHERE seq = 6"))
                ).scalar_one()
        finally:
            await engine.dispose()
        assert newest > max(e["id"] for e in old)
