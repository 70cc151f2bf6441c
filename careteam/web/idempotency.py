"""Idempotency keys: a retried POST returns the first answer and creates nothing new."""

from __future__ import annotations

import hashlib

from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.core.actor import Actor
from careteam.core.errors import ValidationFailed
from careteam.web.tables import IdempotencyRecord


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\0".join((method.encode(), path.encode(), body))).hexdigest()


async def recall(session: AsyncSession, key: str, print_: str, *, actor: Actor) -> IdempotencyRecord | None:
    """The stored first answer for this key, or None; the same key on a different request is refused."""
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
