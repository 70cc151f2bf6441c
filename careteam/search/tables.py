"""Search owns no table of its own: its index (``fulltext.py``) is DDL over messaging's and plans' tables.

Made by the migration ``0010_search``; here it is attached to the metadata, so ``metadata.create_all`` (the
tests' SQLite databases) makes it too, right after the tables it covers.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

from careteam.search import fulltext

sa.event.listen(SQLModel.metadata, "after_create", fulltext.create_index)
sa.event.listen(SQLModel.metadata, "before_drop", fulltext.drop_index)
