"""A lock on a key for the rest of the transaction, whatever the backend.

PostgreSQL runs units of work side by side: two requests with one key take an advisory lock
(``pg_advisory_xact_lock``), so the second waits until the first has committed or rolled back, and only
then looks at what the first stored. SQLite runs one writing unit of work at a time (``engine.unit_of_work``):
a unit of work already holds the only write lock, so there is nothing more to take.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def lock_id(*parts: str) -> int:
    """A signed 64-bit advisory lock id for these parts (two keys sharing one only wait for each other)."""
    digest = hashlib.sha256("\0".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def lock_for_transaction(session: AsyncSession, *parts: str) -> None:
    """Wait until no other transaction holds the lock on these parts, then hold it until this one ends."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await connection.execute(_LOCK, {"key": lock_id(*parts)})
