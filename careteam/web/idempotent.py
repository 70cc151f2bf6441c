"""The Idempotency-Key header for POSTs that create."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import orjson
from fastapi import Header, Request, Response
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.core.actor import Actor
from careteam.web import idempotency

IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
]


async def once(
    request: Request,
    session: AsyncSession,
    key: str | None,
    actor: Actor,
    create: Callable[[], Awaitable[tuple[BaseModel, dict[str, str]]]],
    *,
    may_replay: Callable[[], Awaitable[object]],
    status_code: int = 201,
) -> Response:
    """Run ``create`` once per key: a retry with the same key and body gets the first answer again.

    A replay shows data as a read does, so ``may_replay`` checks that the actor may still read it (a
    clinician taken off the team gets 404, not her old answer) and audits the read.
    """
    if key is None:
        model, headers = await create()
        return _response(model.model_dump_json().encode(), status_code, headers)
    print_ = idempotency.fingerprint(request.method, request.url.path, await request.body())
    stored = await idempotency.recall(session, key, print_, actor=actor)
    if stored is not None:
        await may_replay()
        replay = orjson.loads(stored.body)
        return _response(
            replay["body"].encode(), stored.status_code, {**replay["headers"], "Idempotent-Replayed": "true"}
        )
    model, headers = await create()
    body = model.model_dump_json()
    idempotency.remember(
        session,
        key,
        print_,
        status_code,
        orjson.dumps({"body": body, "headers": headers}).decode(),
        actor=actor,
    )
    return _response(body.encode(), status_code, headers)


def _response(body: bytes, status_code: int, headers: dict[str, str]) -> Response:
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)
