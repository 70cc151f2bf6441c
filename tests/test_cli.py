"""The ``careteam`` command: seeding the demo clinic, creating accounts, migrating."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel, col, select
from typer.testing import CliRunner, Result

from careteam.accounts.passwords import verify_password
from careteam.accounts.tables import User
from careteam.app import create_app
from careteam.audit.tables import AuditEntry
from careteam.cli import app as cli
from careteam.core.actor import actor_of
from careteam.core.vocab import Discipline
from careteam.db.engine import make_engine, make_sessionmaker, unit_of_work
from careteam.events.tables import StreamEvent
from careteam.messaging import service as messaging
from careteam.patients.codes import TeamRole
from careteam.plans import tasks
from careteam.plans.schemas import TaskCreate
from careteam.plans.tables import Task
from careteam.settings import Settings
from tests.factories import make_patient, make_plan, make_user

DEMO_USERS = ["admin", "lead", "physician", "psychologist", "psychologist2", "nurse", "physio", "ot"]


async def careteam(url: str, *args: str) -> Result:
    """Run the command as a shell would; in a thread, because it runs its own event loop."""

    def run() -> Result:
        return CliRunner().invoke(cli, list(args), env={"CARETEAM_DATABASE_URL": url})

    return await asyncio.to_thread(run)


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/cli.db"


async def rows_per_table(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                t.name: int((await conn.execute(sa.select(sa.func.count()).select_from(t))).scalar_one())
                for t in SQLModel.metadata.sorted_tables
            }
    finally:
        await engine.dispose()


@asynccontextmanager
async def api(url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=url, _env_file=None))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as c,
    ):
        yield c


async def sign_in(c: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    r = await c.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert r.status_code == 200, f"{username}: {r.text}"
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_demo_seeds_a_clinic_where_teams_differ(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    result = await careteam(url, "demo")
    assert result.exit_code == 0, result.output
    for username in DEMO_USERS:
        assert username in result.output
    async with api(url) as c:
        headers = {u: await sign_in(c, u, "demo") for u in DEMO_USERS}
        everyone = (await c.get("/api/v1/patients", params={"limit": 200}, headers=headers["admin"])).json()
        assert everyone["total"] >= 6
        teams = set()
        for patient in everyone["items"]:
            team = (
                await c.get(f"/api/v1/patients/{patient['id']}/care-team", headers=headers["admin"])
            ).json()
            teams.add(frozenset(m["username"] for m in team["members"]))
        assert len(teams) > 1, "every patient has the same care team"
        seen_by_nurse = (
            await c.get("/api/v1/patients", params={"limit": 200}, headers=headers["nurse"])
        ).json()
        assert 0 < seen_by_nurse["total"] < everyone["total"]
        # Boards to work on: the nurse opens a plan of one of her patients.
        plans = (await c.get("/api/v1/plans", headers=headers["nurse"])).json()
        assert plans["items"]
        board = await c.get(f"/api/v1/plans/{plans['items'][0]['id']}", headers=headers["nurse"])
        assert board.status_code == 200 and board.json()["tasks"]
        await _demo_referrals(c, headers)
        await _demo_messages(c, headers, url)


async def _demo_messages(c: httpx.AsyncClient, headers: dict[str, dict[str, str]], url: str) -> None:
    """Threads on every plan, task comments, one edited message, one urgent message awaiting the physician."""
    plans = (await c.get("/api/v1/plans", params={"limit": 200}, headers=headers["lead"])).json()["items"]
    threads = {
        p["id"]: (await c.get(f"/api/v1/plans/{p['id']}/messages", headers=headers["lead"])).json()["items"]
        for p in plans
    }
    assert plans and all(len(items) >= 2 for items in threads.values()), threads
    ellen = next(items for items in threads.values() if any("sleep diary" in m["body"] for m in items))
    diary = next(m for m in ellen if m["body"].startswith("@psychology sleep diary"))
    assert diary["mentions"] and diary["author"]["display_name"] == "Grace Mbeki, RN"
    edited = [m for items in threads.values() for m in items if m["edited_at"]]
    assert len(edited) == 1 and edited[0]["version"] == 2
    unread = (await c.get("/api/v1/me/unread", headers=headers["psychologist"])).json()
    assert unread["total"] > 0 and unread["tasks"]  # task comments, and mentions, reached her
    # The one urgent message: it awaits the physician, and no one else.
    engine = make_engine(url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as session:
            users = {u.username: u for u in await session.exec(select(User))}
            awaiting = await messaging.awaiting_acknowledgement(session, actor=actor_of(users["physician"]))
            assert [a.message.body for a in awaiting] == [
                "Hold apixaban 48 h before Thursday's medial branch block — please confirm"
            ]
            assert awaiting[0].message.author.display_name == "Grace Mbeki, RN"
            for other in ("lead", "nurse", "psychologist", "physio", "ot"):
                assert await messaging.awaiting_acknowledgement(session, actor=actor_of(users[other])) == []
    finally:
        await engine.dispose()
    work = (await c.get("/api/v1/me/work", headers=headers["physician"])).json()
    assert [u["body"] for u in work["urgent"]] == [awaiting[0].message.body]


async def _demo_referrals(c: httpx.AsyncClient, headers: dict[str, dict[str, str]]) -> None:
    """A referral in every state, one overdue and already escalated, and a pool card for an outsider."""
    listed = (await c.get("/api/v1/referrals", params={"limit": 200}, headers=headers["lead"])).json()
    by_reason = {r["reason"]: r for r in listed["items"]}
    assert {r["status"] for r in listed["items"]} == {"draft", "active", "on-hold", "revoked", "completed"}
    assert {r["phase"] for r in listed["items"]} >= {"waiting", "claimed", "accepted", "declined"}
    assert by_reason["CBT for pain catastrophising (PCS 34)"]["phase"] == "waiting"
    assert (
        by_reason["Pre-SCS psychological evaluation"]["claimed_by"]["display_name"] == "Dr. Hannah Lindqvist"
    )
    core = by_reason["Core stabilisation after MBB"]
    assert core["answer"] == "accepted" and core["task_ids"]
    assert core["phase_seconds"]["claimed"] > 0  # clocks that look lived: claimed a day before accepting
    declined = [r for r in listed["items"] if r["answer"] == "declined"]
    assert len(declined) == 1 and declined[0]["decline_reason"]
    taper = by_reason["Opioid taper plan, 110 MME/day"]
    assert taper["status"] == "completed" and taper["outcome"]
    assert by_reason["Lost job, insurance lapse"]["status"] == "revoked"
    overdue = [r for r in listed["items"] if r["overdue"]]
    assert len(overdue) == 1 and overdue[0]["answer"] is None
    inbox = (await c.get("/api/v1/me/notifications", params={"limit": 200}, headers=headers["lead"])).json()
    assert any(
        n["kind"] == "referral.overdue" and n["referral_id"] == overdue[0]["id"] for n in inbox["items"]
    )
    # The psychologist on no team sees the pool's referrals as minimal cards: the lead's, and the one the
    # Spine MDT's decision sent (careteam/conferences/demo.py).
    pool = (
        await c.get("/api/v1/referrals", params={"pool": "true"}, headers=headers["psychologist2"])
    ).json()
    assert sorted(r["reason"] for r in pool["items"]) == [
        "CBT for pain catastrophising (PCS 34)",
        "Pre-SCS psychological evaluation",
    ]
    assert all(r["on_team"] is False and r["task_ids"] == [] for r in pool["items"])


async def test_demo_twice_creates_nothing_new(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    assert (await careteam(url, "demo")).exit_code == 0
    before = await rows_per_table(url)
    result = await careteam(url, "demo")
    assert result.exit_code == 0, result.output
    assert "(0 new records)" in result.output
    assert await rows_per_table(url) == before


async def test_demo_password_option(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    assert (await careteam(url, "demo", "--password", "clinic-2026")).exit_code == 0
    async with api(url) as c:
        await sign_in(c, "nurse", "clinic-2026")
        r = await c.post("/api/v1/auth/token", json={"username": "nurse", "password": "demo"})
        assert r.status_code == 401


async def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    result = await careteam(url, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert "head" in result.output
    assert set(await rows_per_table(url)) == set(SQLModel.metadata.tables)
    # Twice is harmless.
    assert (await careteam(url, "db", "upgrade")).exit_code == 0


async def test_user_create_makes_an_account_that_signs_in(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    assert (await careteam(url, "db", "upgrade")).exit_code == 0
    result = await careteam(
        url,
        "user",
        "create",
        "grace.m",
        "--name",
        "Grace Mbeki, RN",
        "--discipline",
        "nurse",
        "--password",
        "long enough",
    )
    assert result.exit_code == 0, result.output
    assert "created user grace.m" in result.output
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            user = (await s.exec(select(User).where(User.username == "grace.m"))).one()
    finally:
        await engine.dispose()
    assert (user.display_name, user.discipline, user.role, user.active) == (
        "Grace Mbeki, RN",
        "nurse",
        "clinician",
        True,
    )
    assert user.password_hash.startswith("$argon2id$") and verify_password("long enough", user.password_hash)
    async with api(url) as c:
        me = await c.get("/api/v1/me", headers=await sign_in(c, "grace.m", "long enough"))
        assert me.json()["username"] == "grace.m"


async def test_user_create_refuses_a_taken_username(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    assert (await careteam(url, "db", "upgrade")).exit_code == 0
    args = [
        "user",
        "create",
        "grace.m",
        "--name",
        "Grace",
        "--discipline",
        "nurse",
        "--password",
        "long enough",
    ]
    assert (await careteam(url, *args)).exit_code == 0
    result = await careteam(url, *[a if a != "Grace" else "Another Grace" for a in args])
    assert result.exit_code == 1
    assert "username is taken" in result.stderr
    assert "Traceback" not in result.output
    counts = await rows_per_table(url)
    assert counts["user_account"] == 1


async def test_user_create_refuses_a_short_password_clearly(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    assert (await careteam(url, "db", "upgrade")).exit_code == 0
    result = await careteam(
        url, "user", "create", "grace.m", "--name", "Grace", "--discipline", "nurse", "--password", "short"
    )
    assert result.exit_code == 1
    # A message naming the rule, not a Python traceback.
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "password" in result.stderr.lower()
    assert (await rows_per_table(url))["user_account"] == 0


async def test_user_create_admin_role(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    assert (await careteam(url, "db", "upgrade")).exit_code == 0
    result = await careteam(
        url,
        "user",
        "create",
        "boss",
        "--name",
        "Clinic Admin",
        "--discipline",
        "ipm_lead",
        "--role",
        "admin",
        "--password",
        "long enough",
    )
    assert result.exit_code == 0, result.output
    async with api(url) as c:
        r = await c.get("/api/v1/audit", headers=await sign_in(c, "boss", "long enough"))
        assert r.status_code == 200


async def test_unknown_discipline_is_refused_before_touching_the_database(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    result = await careteam(
        url, "user", "create", "x1", "--name", "X", "--discipline", "surgeon", "--password", "pw12"
    )
    assert result.exit_code == 2
    assert "surgeon" in result.output
    assert not (tmp_path / "cli.db").exists()


async def test_serve_refuses_several_workers_with_the_in_memory_broker(tmp_path: Path) -> None:
    result = await careteam(f"sqlite+aiosqlite:///{tmp_path}/w.db", "serve", "--workers", "2")
    assert result.exit_code == 2
    assert "several workers need a shared broker" in result.output


async def _task_world(url: str) -> tuple[int, str, str]:
    """A migrated database with one task on a plan: its id, a team member and an outsider."""
    assert (await careteam(url, "db", "upgrade")).exit_code == 0
    engine = make_engine(url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            nurse, outsider = await make_user(s), await make_user(s)
            plan = await make_plan(s, await make_patient(s, members=[(nurse, TeamRole.lead)]))
            actor = actor_of(nurse)
            task = await tasks.create_task(
                s, plan.id or 0, TaskCreate(title="UDS due", discipline=Discipline.nurse), actor=actor
            )
            return task.id or 0, nurse.username, outsider.username
    finally:
        await engine.dispose()


async def _task_state(url: str, task_id: int) -> tuple[str, int, list[str]]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            task = await s.get(Task, task_id)
            assert task is not None
            # The board's events (the task's assignee and pool get work.changed on their own streams).
            board = (
                select(StreamEvent).where(StreamEvent.stream_kind == "plan").order_by(col(StreamEvent.seq))
            )
            kinds = [e.kind for e in await s.exec(board)]
            return task.status, task.version, kinds
    finally:
        await engine.dispose()


async def test_task_set_status_moves_the_task_as_the_named_clinician(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    task_id, nurse, _ = await _task_world(url)
    result = await careteam(url, "task", "set-status", str(task_id), "accepted", "--as", nurse)
    assert result.exit_code == 0, result.output
    assert f"task {task_id}: accepted (version 2)" in result.output
    assert await _task_state(url, task_id) == ("accepted", 2, ["task.created", "task.moved"])
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as s:
            entry = (await s.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc()))).first()
            assert entry is not None and entry.resource_type == "task" and entry.request_id == "cli"
    finally:
        await engine.dispose()


async def test_task_set_status_refuses_clearly_and_changes_nothing(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    task_id, nurse, outsider = await _task_world(url)
    cases = [
        (["completed", "--as", nurse], "cannot go straight to Done"),  # not from requested
        (["accepted", "--as", outsider], "error:"),  # not on the care team: no such task for her
        (["accepted", "--as", "nobody"], "No active user 'nobody'"),
        (["accepted", "--as", nurse, "--if-version", "7"], "changed this task first"),
    ]
    for args, expected in cases:
        result = await careteam(url, "task", "set-status", str(task_id), *args)
        assert result.exit_code == 1, (args, result.output)
        assert expected in result.output, (args, result.output)
    bad = await careteam(url, "task", "set-status", str(task_id), "finished", "--as", nurse)
    assert bad.exit_code == 2 and "finished" in bad.output
    assert await _task_state(url, task_id) == ("requested", 1, ["task.created"])


def test_serve_runs_the_app_with_the_collector_set_for_a_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``careteam serve`` hands uvicorn ``served_app``; in its own process (never this one: the tests keep
    CPython's collector as it is) that freezes what the import built and sets ``SERVED_GC_THRESHOLDS``."""
    import uvicorn

    started: list[tuple[Any, ...]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: started.append(a))
    url = f"sqlite+aiosqlite:///{tmp_path}/s.db"
    result = CliRunner().invoke(cli, ["serve"], env={"CARETEAM_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert started == [("careteam.cli:served_app",)]
    probe = (
        "import gc; from careteam.cli import served_app, SERVED_GC_THRESHOLDS; "
        "before = (gc.get_threshold(), gc.get_freeze_count()); app = served_app(); "
        "print(before[0] != SERVED_GC_THRESHOLDS, before[1] == 0, "
        "gc.get_threshold() == SERVED_GC_THRESHOLDS, gc.get_freeze_count() > 10_000, type(app).__name__)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARETEAM_")}
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env={**env, "CARETEAM_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.split() == ["True", "True", "True", "True", "CareteamApp"], out.stderr
