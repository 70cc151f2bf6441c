"""The unit of work's after-commit hooks: how a write from anywhere publishes its events."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.db.engine import after_commit, make_engine, make_sessionmaker, unit_of_work
from careteam.events import log as events
from careteam.events.tables import StreamEvent
from careteam.patients.codes import TeamRole
from tests.factories import emit, make_patient, make_plan, make_user


async def test_hooks_run_once_each_after_the_commit_in_order(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    ran: list[str] = []

    async def first(session: AsyncSession) -> None:
        ran.append("first")

    async def second(session: AsyncSession) -> None:
        ran.append("second")

    try:
        async with unit_of_work(sessions) as session:
            after_commit(session, first)
            after_commit(session, second)
            after_commit(session, first)  # asked for again: still once
            assert ran == []  # nothing before the commit
        assert ran == ["first", "second"]
    finally:
        await engine.dispose()


async def test_no_hook_runs_when_the_unit_of_work_rolls_back(database_url: str) -> None:
    engine = make_engine(database_url)
    ran: list[str] = []

    async def hook(session: AsyncSession) -> None:
        ran.append("ran")

    try:
        with pytest.raises(RuntimeError):
            async with unit_of_work(make_sessionmaker(engine)) as session:
                after_commit(session, hook)
                raise RuntimeError("refused")
        assert ran == []
    finally:
        await engine.dispose()


async def test_a_failing_hook_neither_undoes_nor_fails_the_write(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(database_url)
    ran: list[str] = []

    async def broken(session: AsyncSession) -> None:
        raise ConnectionError("broker down")

    async def after(session: AsyncSession) -> None:
        ran.append("after")

    sessions = make_sessionmaker(engine)
    try:
        async with unit_of_work(sessions) as session:
            user = await make_user(session)
            after_commit(session, broken)
            after_commit(session, after)
        assert ran == ["after"]
        assert "after-commit hook" in caplog.text
        async with unit_of_work(sessions) as session:
            assert await session.get(type(user), user.id) is not None
    finally:
        await engine.dispose()


async def test_recorded_events_reach_the_sessionmakers_publisher_once_committed(database_url: str) -> None:
    engine = make_engine(database_url)
    published: list[list[Any]] = []

    async def publisher(rows: list[StreamEvent]) -> None:
        published.append([(row.stream_id, row.seq, row.kind) for row in rows])

    sessions = make_sessionmaker(engine, info={events.PUBLISHER: publisher})
    try:
        async with unit_of_work(sessions) as session:
            patient = await make_patient(session, members=[(await make_user(session), TeamRole.lead)])
            plan_id = (await make_plan(session, patient)).id or 0
        published.clear()
        async with unit_of_work(sessions) as session:
            await emit(session, plan_id, 2)
            assert published == []
        assert published == [[(plan_id, 1, "test.ping"), (plan_id, 2, "test.ping")]]
        with pytest.raises(RuntimeError):
            async with unit_of_work(sessions) as session:
                await emit(session, plan_id, 1)
                raise RuntimeError("rolled back: nothing to publish")
        assert len(published) == 1
    finally:
        await engine.dispose()
