"""Run Alembic migrations from code (``careteam db upgrade``, ``careteam serve``, tests)."""

from __future__ import annotations

import functools

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from careteam import resources


def alembic_config(database_url: str) -> Config:
    config = Config(str(resources.ALEMBIC_INI))
    config.set_main_option("script_location", str(resources.MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


@functools.cache
def head_revision() -> str:
    """The newest migration this code ships (what a database at head has in ``alembic_version``)."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head
