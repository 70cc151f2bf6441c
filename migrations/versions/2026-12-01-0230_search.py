"""Search: the full-text index over message bodies and task titles and descriptions

SQLite: FTS5 external-content tables (message_fts, task_fts) kept by triggers, filled from the rows there
are. PostgreSQL: GIN expression indexes on to_tsvector('english', ...). The DDL is a frozen copy of
careteam/search/fulltext.py's at this revision (tests/search checks they agree).

Revision ID: 0010_search
Revises: 0009_message_acks
Create Date: 2026-12-01 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010_search"
down_revision: str | None = "0009_message_acks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_UPGRADE = (
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
    "CREATE TRIGGER IF NOT EXISTS task_fts_update AFTER UPDATE OF title, description ON task BEGIN "
    "INSERT INTO task_fts(task_fts, rowid, title, description) "
    "VALUES ('delete', old.id, old.title, old.description); "
    "INSERT INTO task_fts(rowid, title, description) VALUES (new.id, new.title, new.description); END",
    "INSERT INTO task_fts(task_fts) VALUES ('rebuild')",
)
_SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS task_fts_update",
    "DROP TRIGGER IF EXISTS task_fts_delete",
    "DROP TRIGGER IF EXISTS task_fts_insert",
    "DROP TABLE IF EXISTS task_fts",
    "DROP TRIGGER IF EXISTS message_fts_update",
    "DROP TRIGGER IF EXISTS message_fts_delete",
    "DROP TRIGGER IF EXISTS message_fts_insert",
    "DROP TABLE IF EXISTS message_fts",
)
_POSTGRESQL_UPGRADE = (
    "CREATE INDEX IF NOT EXISTS ix_message_fulltext ON message USING gin (to_tsvector('english', body))",
    "CREATE INDEX IF NOT EXISTS ix_task_fulltext ON task "
    "USING gin (to_tsvector('english', title || ' ' || description))",
)
_POSTGRESQL_DOWNGRADE = ("DROP INDEX IF EXISTS ix_task_fulltext", "DROP INDEX IF EXISTS ix_message_fulltext")


def _run(sqlite: tuple[str, ...], postgresql: tuple[str, ...]) -> None:
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": sqlite, "postgresql": postgresql}[dialect]:
        op.execute(statement)


def upgrade() -> None:
    _run(_SQLITE_UPGRADE, _POSTGRESQL_UPGRADE)


def downgrade() -> None:
    _run(_SQLITE_DOWNGRADE, _POSTGRESQL_DOWNGRADE)
