"""Health endpoints for the load balancer and the orchestrator: unauthenticated, no patient data, not in the
OpenAPI document (they describe the process, not the clinic's data).

- ``GET /healthz``: the process answers (liveness). Nothing is checked, so a database outage never makes an
  orchestrator restart healthy processes.
- ``GET /readyz``: this process can serve (readiness): the database answers within two seconds and has the
  schema this code expects (migrations at head), and the broker is connected. 200 when all hold, 503 with
  ``Retry-After`` when one does not; the body names each check's outcome, never an error's text.
"""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from careteam.db.migrate import head_revision
from careteam.db.outage import RETRY_AFTER_SECONDS, report

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

DATABASE_TIMEOUT_SECONDS = 2.0
_NO_STORE = {"Cache-Control": "no-store"}


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "alive"}, headers=_NO_STORE)


async def _schema_version(engine: AsyncEngine) -> str | None:
    async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS), engine.connect() as conn:
        version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar()
    return None if version is None else str(version)


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    checks: dict[str, str] = {}
    try:
        version = await _schema_version(state.engine)
    except Exception as exc:  # unreachable, timed out, or no schema: not ready, whatever the reason
        # An outage is logged once for the process (careteam.db.outage); anything else with its traceback.
        report(exc, log, "readiness: the database check failed")
        checks["database"] = "unavailable"
    else:
        checks["database"] = "ok"
        checks["migrations"] = "ok" if version == head_revision() else "not at head"
    checks["broker"] = "ok" if state.broker.reachable else "unavailable"
    ready = all(outcome == "ok" for outcome in checks.values()) and "migrations" in checks
    headers = _NO_STORE if ready else {**_NO_STORE, "Retry-After": str(RETRY_AFTER_SECONDS)}
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503, headers=headers)
