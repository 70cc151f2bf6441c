"""``GET /metrics``: the Prometheus exposition of :mod:`careteam.metrics`, mounted only when
``CARETEAM_METRICS`` is on (otherwise the path is a 404 like any unknown one).

Not in the OpenAPI document (it describes the process, not the clinic's data), no patient data. With
``CARETEAM_METRICS_TOKEN`` set a scrape must send ``Authorization: Bearer <token>``; without it, bind the
server to a private interface or keep ``/metrics`` off the proxy (docs/operations.md).
"""

from __future__ import annotations

import os
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from careteam.core.errors import Unauthenticated
from careteam.metrics import MULTIPROC_DIR, forget_dead_workers
from careteam.settings import Settings

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if settings.metrics_token:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip(), settings.metrics_token):
            raise Unauthenticated("Send Authorization: Bearer <CARETEAM_METRICS_TOKEN>.")
    return Response(
        generate_latest(_registry()),
        media_type=CONTENT_TYPE_LATEST,
        headers={"Cache-Control": "no-store"},
    )


def _registry() -> CollectorRegistry:
    """This process's registry, or, under several workers, the sum of every worker's files."""
    directory = os.environ.get(MULTIPROC_DIR)
    if not directory:
        return REGISTRY
    forget_dead_workers(directory)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]  # untyped upstream
    return registry
