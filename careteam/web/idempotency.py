"""Idempotency keys: a retried POST returns the first answer and creates nothing new.

A retry that arrives while the first request is still running waits for it, then replays its answer (or,
if the first failed and stored nothing, runs itself): the same on PostgreSQL, where the key's lock makes
it wait (``db.locks``), and on SQLite, where units of work run one at a time anyway.
"""

from __future__ import annotations

import hashlib

from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.core.actor import Actor
from careteam.core.errors import ValidationFailed
from careteam.db.locks import lock_for_transaction
from careteam.web.tables import IdempotencyRecord


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\0".join((method.encode(), path.encode(), body))).hexdigest()


async def recall(session: AsyncSession, key: str, print_: str, *, actor: Actor) -> IdempotencyRecord | None:
    """The stored first answer for this key, or None; the same key on a different request is refused.

    Takes the key's lock first: a request with the same key still running is waited for, so what it
    stored is seen here (and this request's own answer is stored before another retry looks).
    """
    await lock_for_transaction(session, "idempotency", str(actor.user_id), key)
    record = await session.get(IdempotencyRecord, (actor.user_id, key))
    if record is not None and record.fingerprint != print_:
        raise ValidationFailed(
            "This Idempotency-Key was used for a different request.", field="header.Idempotency-Key"
        )
    return record


def remember(
    session: AsyncSession, key: str, print_: str, status_code: int, body: str, *, actor: Actor
) -> None:
    """Store the answer in the same transaction as the work it describes."""
    session.add(
        IdempotencyRecord(
            user_id=actor.user_id, key=key, fingerprint=print_, status_code=status_code, body=body
        )
    )
