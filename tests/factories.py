"""Factories for test data: rows straight into the store, bypassing permission checks."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import event
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts.passwords import hash_password
from careteam.accounts.tables import User
from careteam.core.vocab import ClinicRole, Discipline
from careteam.events import log as events
from careteam.events import streams
from careteam.events.tables import StreamEvent
from careteam.patients.codes import TeamRole
from careteam.patients.tables import CareTeam, CareTeamMember, Patient
from careteam.plans.tables import CarePlan

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


@lru_cache(maxsize=8)
def _hash(password: str) -> str:
    # argon2id is slow on purpose; one hash per password per run keeps the suite fast.
    return hash_password(password)


async def make_user(
    session: AsyncSession,
    username: str | None = None,
    *,
    discipline: Discipline = Discipline.nurse,
    role: ClinicRole = ClinicRole.clinician,
    password: str = PASSWORD,
    active: bool = True,
) -> User:
    n = next(_counter)
    user = User(
        username=username or f"user{n}",
        display_name=f"Test {discipline.value} {n}",
        discipline=discipline,
        role=role,
        password_hash=_hash(password),
        active=active,
    )
    session.add(user)
    await session.flush()
    return user


async def make_patient(
    session: AsyncSession, *, members: list[tuple[User, TeamRole]] | None = None, name: str | None = None
) -> Patient:
    n = next(_counter)
    patient = Patient(mrn=f"MRN{n:06d}", name=name or f"Patient {n}", birth_date=date(1970, 1, 1 + n % 28))
    session.add(patient)
    await session.flush()
    team = CareTeam(patient_id=patient.id or 0, name=f"Team {n}")
    session.add(team)
    await session.flush()
    for user, role in members or []:
        session.add(
            CareTeamMember(team_id=team.id or 0, user_id=user.id or 0, role=role, discipline=user.discipline)
        )
    await session.flush()
    return patient


async def make_plan(
    session: AsyncSession, patient: Patient, *, title: str = "Chronic low back pain plan"
) -> CarePlan:
    plan = CarePlan(patient_id=patient.id or 0, title=title, status="active")
    session.add(plan)
    await session.flush()
    return plan


async def emit(session: AsyncSession, plan_id: int, count: int = 1, *, kind: str = "test.ping") -> int:
    """Append ``count`` events to a plan's stream as a domain write would; returns the last seq."""
    seq = 0
    for i in range(count):
        seq = (await events.record(session, streams.plan(plan_id), kind, {"n": i}, actor=None)).seq
    return seq


def of_plan(plan_id: int) -> tuple[Any, Any]:
    """Where-clauses for the events of one plan's stream: ``select(StreamEvent).where(*of_plan(7))``."""
    return col(StreamEvent.stream_kind) == streams.PLAN, col(StreamEvent.stream_id) == plan_id


@contextmanager
def statements(app: Any, *, begin: bool = True) -> Iterator[list[str]]:
    """The SQL statements the app's engine sends while the block runs (``begin=False``: BEGINs left out)."""
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if begin or not statement.startswith("BEGIN"):
            sent.append(statement)

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def make_template(session: AsyncSession, author_id: int, *, status: str = "active") -> int:
    """A protocol template at version 1 with one goal and two tasks (the second gated by the first)."""
    from careteam.protocols.tables import ProtocolGoal, ProtocolTask, ProtocolTemplate, ProtocolVersion

    template = ProtocolTemplate(name="SCS trial work-up", status=status)
    session.add(template)
    await session.flush()
    version = ProtocolVersion(
        template_id=template.id or 0, number=1, name=template.name, status=status, author_id=author_id
    )
    session.add(version)
    await session.flush()
    session.add(ProtocolGoal(version_id=version.id or 0, position=0, description="Decide on implant"))
    session.add_all(
        [
            ProtocolTask(
                version_id=version.id or 0,
                position=0,
                key="psych",
                title="Clearance",
                discipline="psychologist",
            ),
            ProtocolTask(
                version_id=version.id or 0,
                position=1,
                key="trial",
                title="SCS trial",
                discipline="physician",
                gates=["psych"],
            ),
        ]
    )
    await session.flush()
    return template.id or 0
