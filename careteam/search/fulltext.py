"""The full-text index and its queries, per dialect: the one module of search that knows SQL dialects.

SQLite: an FTS5 external-content table per kind of document (``message_fts`` over ``message.body``,
``task_fts`` over ``task.title`` and ``task.description``), kept by triggers on the content tables; matched
with ``MATCH``, ranked by ``bm25()``, cut with ``snippet()``. PostgreSQL: a GIN expression index per kind on
``to_tsvector('english', <document>)``; matched with ``@@ plainto_tsquery``, ranked by ``ts_rank``, cut with
``ts_headline``. The document expressions come from the owning features (``messaging.service.
searchable_messages``, ``plans.tasks.searchable_tasks``); the PostgreSQL indexes are on the same expressions,
so the planner uses them.

A user's query never reaches either query language as syntax: ``terms`` keeps its words only, and both
backends match all of them (quoted FTS5 strings; ``plainto_tsquery``). Highlights are marked with two
control characters and handed back as (text, highlighted) parts (``parts``), never as markup.

The migration ``0010_search`` holds its own frozen copy of the DDL below; ``tests/search`` checks that a
migrated database and one made by ``metadata.create_all`` (the tests' SQLite) have the same index.
"""

from __future__ import annotations

import re
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from careteam.search.codes import TERMS_MAX, SearchKind

# Start and end of a highlight in a snippet: control characters no one types into a message or a task.
START: Final = "\x02"
STOP: Final = "\x03"
ELLIPSIS: Final = "…"

_WORD = re.compile(r"\w+")

_FTS: Final = {SearchKind.message: "message_fts", SearchKind.task: "task_fts"}
# bm25 weights per indexed column: a word in a task's title counts twice one in its description.
_WEIGHTS: Final = {SearchKind.message: (1.0,), SearchKind.task: (2.0, 1.0)}
_PG_INDEXES: Final = ("ix_message_fulltext", "ix_task_fulltext")
_FTS5_SHADOWS: Final = ("_data", "_idx", "_docsize", "_config", "_content")

# The text search configuration of the PostgreSQL indexes and queries: a literal, not a parameter, so a
# query's expression is the index's.
_CONFIG: sa.ColumnClause[Any] = sa.literal_column("'english'::regconfig")
_HEADLINE: Final = f"StartSel={START}, StopSel={STOP}, MaxWords=24, MinWords=8, MaxFragments=2"

SQLITE_CREATE: Final = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS message_fts USING fts5(body, content='message', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS message_fts_insert AFTER INSERT ON message BEGIN "
    "INSERT INTO message_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER IF NOT EXISTS message_fts_delete AFTER DELETE ON message BEGIN "
    "INSERT INTO message_fts(message_fts, rowid, body) VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER IF NOT EXISTS message_fts_update AFTER UPDATE OF body ON message BEGIN "
    "INSERT INTO message_fts(message_fts, rowid, body) VALUES ('delete', old.id, old.body); "
    "INSERT INTO message_fts(rowid, body) VALUES (new.id, new.body); END",
    "INSERT INTO message_fts(message_fts) VALUES ('rebuild')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS task_fts USING fts5(title, description, content='task', "
    "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS task_fts_insert AFTER INSERT ON task BEGIN "
    "INSERT INTO task_fts(rowid, title, description) VALUES (new.id, new.title, new.description); END",
    "CREATE TRIGGER IF NOT EXISTS task_fts_delete AFTER DELETE ON task BEGIN "
    "INSERT INTO task_fts(task_fts, rowid, title, description) "
    "VALUES ('delete', old.id, old.title, old.description); END",
    # Only a change of the indexed text re-indexes a task: a card moved on the board touches no index.
    "CREATE TRIGGER IF NOT EXISTS task_fts_update AFTER UPDATE OF title, description ON task BEGIN "
    "INSERT INTO task_fts(task_fts, rowid, title, description) "
    "VALUES ('delete', old.id, old.title, old.description); "
    "INSERT INTO task_fts(rowid, title, description) VALUES (new.id, new.title, new.description); END",
    "INSERT INTO task_fts(task_fts) VALUES ('rebuild')",
)
SQLITE_DROP: Final = (
    "DROP TRIGGER IF EXISTS task_fts_update",
    "DROP TRIGGER IF EXISTS task_fts_delete",
    "DROP TRIGGER IF EXISTS task_fts_insert",
    "DROP TABLE IF EXISTS task_fts",
    "DROP TRIGGER IF EXISTS message_fts_update",
    "DROP TRIGGER IF EXISTS message_fts_delete",
    "DROP TRIGGER IF EXISTS message_fts_insert",
    "DROP TABLE IF EXISTS message_fts",
)
POSTGRESQL_CREATE: Final = (
    "CREATE INDEX IF NOT EXISTS ix_message_fulltext ON message USING gin (to_tsvector('english', body))",
    "CREATE INDEX IF NOT EXISTS ix_task_fulltext ON task "
    "USING gin (to_tsvector('english', title || ' ' || description))",
)
POSTGRESQL_DROP: Final = ("DROP INDEX IF EXISTS ix_task_fulltext", "DROP INDEX IF EXISTS ix_message_fulltext")

_INDEXED_TABLES: Final = frozenset({"message", "task"})


def is_index_object(name: str | None) -> bool:
    """Whether a table or index of the database is this index's (not a model's): Alembic's autogenerate
    and schema comparisons leave them out."""
    if name is None:
        return False
    if name in _PG_INDEXES:
        return True
    return any(name == fts or name in {fts + s for s in _FTS5_SHADOWS} for fts in _FTS.values())


def create_index(target: Any, connection: Connection, **kw: Any) -> None:
    """``metadata.create_all`` hook: the index, once the tables it covers exist (as the migration does)."""
    if not _covers_indexed_tables(kw):
        return
    for statement in _ddl(connection.dialect, SQLITE_CREATE, POSTGRESQL_CREATE):
        connection.exec_driver_sql(statement)


def drop_index(target: Any, connection: Connection, **kw: Any) -> None:
    """``metadata.drop_all`` hook: the index goes before its tables."""
    if not _covers_indexed_tables(kw):
        return
    for statement in _ddl(connection.dialect, SQLITE_DROP, POSTGRESQL_DROP):
        connection.exec_driver_sql(statement)


def _covers_indexed_tables(kw: dict[str, Any]) -> bool:
    tables = kw.get("tables")
    return tables is None or {t.name for t in tables} >= _INDEXED_TABLES


def _ddl(dialect: Dialect, sqlite: tuple[str, ...], postgresql: tuple[str, ...]) -> tuple[str, ...]:
    return {"sqlite": sqlite, "postgresql": postgresql}.get(dialect.name, ())


def terms(q: str) -> list[str]:
    """The words of a query, lowercased, each once, at most ``TERMS_MAX``: quotes, operators and
    punctuation are dropped, so no query is FTS syntax."""
    words = dict.fromkeys(w.lower() for w in _WORD.findall(q) if w.strip("_"))
    return list(words)[:TERMS_MAX]


def matching(dialect: Dialect, kind: SearchKind, source: sa.Subquery, words: list[str]) -> sa.Select[Any]:
    """The documents of ``source`` (a feature's search fragment) that contain every word, as rows of
    ``kind``, ``id``, ``plan_id``, ``task_id``, ``patient_id``, ``score`` (higher is better) and
    ``snippet`` (highlights between ``START`` and ``STOP``)."""
    columns = (
        sa.literal(kind.value).label("kind"),
        source.c.id,
        source.c.plan_id,
        source.c.task_id,
        source.c.patient_id,
    )
    if dialect.name == "sqlite":
        name = _FTS[kind]
        fts = sa.table(name, sa.column("rowid"))
        table: sa.ColumnClause[Any] = sa.literal_column(name)
        # Each word an FTS5 string ("word"): implicit AND, and no word is read as an operator.
        match = " ".join(f'"{w}"' for w in words)
        return (
            sa.select(
                *columns,
                (-sa.func.bm25(table, *_WEIGHTS[kind])).label("score"),
                sa.func.snippet(table, -1, START, STOP, ELLIPSIS, 24).label("snippet"),
            )
            .select_from(source.join(fts, fts.c.rowid == source.c.id))
            .where(table.op("MATCH")(match))
        )
    document = sa.func.to_tsvector(_CONFIG, source.c.document)
    query = sa.func.plainto_tsquery(_CONFIG, " ".join(words))
    return sa.select(
        *columns,
        sa.func.ts_rank(document, query).label("score"),
        sa.func.ts_headline(_CONFIG, source.c.document, query, _HEADLINE).label("snippet"),
    ).where(document.op("@@")(query))


def parts(snippet: str) -> list[tuple[str, bool]]:
    """A marked snippet as (text, highlighted) parts, in order, none empty."""
    out: list[tuple[str, bool]] = []
    highlighted = False
    for piece in re.split(f"([{START}{STOP}])", snippet):
        if piece in (START, STOP):
            highlighted = piece == START
        elif piece:
            out.append((piece, highlighted))
    return out
