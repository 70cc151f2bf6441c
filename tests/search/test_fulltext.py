"""The index and its query language: queries become plain words, snippets plain parts, the migration's index
is the tests' index, and PostgreSQL's planner uses the GIN indexes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlmodel import SQLModel

from careteam.db import migrate
from careteam.db.engine import make_engine
from careteam.messaging import service as messaging
from careteam.plans import tasks
from careteam.search import fulltext
from careteam.search.codes import TERMS_MAX, SearchKind


def test_terms_are_the_words_of_a_query_and_nothing_else() -> None:
    assert fulltext.terms('"Gabapentin" NEAR( -titration* OR ^x:y') == [
        "gabapentin",
        "near",
        "titration",
        "or",
        "x",
        "y",
    ]
    assert fulltext.terms('" * - ( ) _ __') == []
    assert fulltext.terms("Ünïcödé 痛み gabapentin GABAPENTIN") == ["ünïcödé", "痛み", "gabapentin"]
    assert len(fulltext.terms(" ".join(f"w{n}" for n in range(40)))) == TERMS_MAX


def test_a_snippet_becomes_text_parts() -> None:
    marked = f"<b>start</b> {fulltext.START}gabapentin{fulltext.STOP} and {fulltext.START}dose{fulltext.STOP}"
    assert fulltext.parts(marked) == [
        ("<b>start</b> ", False),
        ("gabapentin", True),
        (" and ", False),
        ("dose", True),
    ]
    assert fulltext.parts("no highlight") == [("no highlight", False)]
    assert fulltext.parts("") == []


async def _index_objects(url: str) -> list[tuple[str, str, str]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.exec_driver_sql(
                "SELECT type, name, sql FROM sqlite_master WHERE name LIKE '%fts%' ORDER BY name"
            )
            return [(str(t), str(n), str(s)) for t, n, s in rows.all()]
    finally:
        await engine.dispose()


async def test_the_migrated_sqlite_index_is_the_one_create_all_makes(tmp_path: Path) -> None:
    migrated = f"sqlite+aiosqlite:///{tmp_path}/migrated.db"
    await asyncio.to_thread(migrate.upgrade, migrated)
    created = f"sqlite+aiosqlite:///{tmp_path}/created.db"
    engine = make_engine(created)
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    await engine.dispose()

    objects = await _index_objects(migrated)
    names = {name for _, name, _ in objects}
    assert {"message_fts", "task_fts", "message_fts_insert", "task_fts_update"} <= names
    assert objects == await _index_objects(created)


async def test_the_sqlite_index_is_dropped_with_the_tables(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/dropped.db"
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
        await conn.run_sync(SQLModel.metadata.drop_all)
    await engine.dispose()
    assert await _index_objects(url) == []


@pytest.mark.parametrize("backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_postgresql_matches_through_the_gin_indexes(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SET enable_seqscan = off")
            sources = {
                SearchKind.message: ("ix_message_fulltext", messaging.searchable_messages()),
                SearchKind.task: ("ix_task_fulltext", tasks.searchable_tasks()),
            }
            for kind, (index, source) in sources.items():
                query = fulltext.matching(conn.dialect, kind, source, ["gabapentin", "dose"])
                sql = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
                plan = "\n".join(r[0] for r in (await conn.exec_driver_sql(f"EXPLAIN {sql}")).all())
                assert index in plan, plan
    finally:
        await engine.dispose()


def test_index_objects_are_known_by_name() -> None:
    for name in ("message_fts", "task_fts_data", "message_fts_idx", "ix_task_fulltext"):
        assert fulltext.is_index_object(name)
    for name in ("message", "task", "message_revision", "ix_message_patient_id", None):
        assert not fulltext.is_index_object(name)
    # No model's table or index is mistaken for the index (Alembic would stop comparing it).
    assert not [t for t in SQLModel.metadata.tables if fulltext.is_index_object(t)]
    assert not [
        i.name
        for t in SQLModel.metadata.tables.values()
        for i in t.indexes
        if fulltext.is_index_object(i.name)
    ]
