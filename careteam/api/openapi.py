"""The OpenAPI document as client generators need it: short operation ids and a required If-Match.

Integrators generate clients from ``/openapi.json`` (openapi-python-client, openapi-generator), and the
operation id becomes the method name. FastAPI's default, ``patch_task_api_v1_tasks__task_id__patch``, spells
the path and changes whenever a route moves; ``tasks-patch_task`` changes only when the endpoint is renamed.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.utils import generate_unique_id

from careteam.api.deps import IF_MATCH


def operation_id(route: APIRoute) -> str:
    """``<tag>-<function name>``, e.g. ``tasks-patch_task``; the tag "care plans" gives ``care_plans``."""
    if not route.tags:
        if not route.include_in_schema:
            return generate_unique_id(route)  # an HTML page: not in the document, so no client sees it
        raise ValueError(f"{route.path} is in the OpenAPI document but has no tag to name its operation by")
    tag = re.sub(r"[^a-z0-9]+", "_", str(route.tags[0]).lower()).strip("_")
    return f"{tag}-{route.name}"


def install(app: FastAPI) -> None:
    """Declare If-Match required on every operation that answers 428 without it.

    The header is declared only by ``deps.if_match``, which answers 428 (precondition-required) when it is
    missing; so every If-Match parameter in the document is marked required. At runtime it stays optional to
    the validator, so a missing If-Match is still that 428 problem and not a 422 validation error.
    """
    generate = app.openapi  # caches the document until routes change

    def openapi() -> dict[str, Any]:
        schema = generate()
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                for parameter in operation.get("parameters", []):
                    if parameter.get("in") == "header" and parameter.get("name") == IF_MATCH:
                        # Required and a plain string: a generated client's argument is `str`, not optional.
                        parameter["required"] = True
                        parameter["schema"] = {"type": "string", "title": IF_MATCH}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the document
