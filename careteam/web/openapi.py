"""The OpenAPI document as client generators need it: short operation ids and a required If-Match.

Integrators generate clients from ``/openapi.json`` (openapi-python-client, openapi-generator), and the
operation id becomes the method name. FastAPI's default, ``patch_task_api_v1_tasks__task_id__patch``, spells
the path and changes whenever a route moves; ``tasks-patch_task`` changes only when the endpoint is renamed.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.utils import generate_unique_id

from careteam.web.deps import IF_MATCH
from careteam.web.problems import MEDIA_TYPE, Problem

_SCHEMAS = "#/components/schemas/"


def operation_id(route: APIRoute) -> str:
    """``<tag>-<function name>``, e.g. ``tasks-patch_task``; the tag "care plans" gives ``care_plans``."""
    if not route.tags:
        if not route.include_in_schema:
            return generate_unique_id(route)  # an HTML page: not in the document, so no client sees it
        raise ValueError(f"{route.path} is in the OpenAPI document but has no tag to name its operation by")
    tag = re.sub(r"[^a-z0-9]+", "_", str(route.tags[0]).lower()).strip("_")
    return f"{tag}-{route.name}"


def install(app: FastAPI) -> None:
    """Declare If-Match required where 428 answers without it, and every error status as problem+json.

    The header is declared only by ``deps.if_match``, which answers 428 (precondition-required) when it is
    missing; so every If-Match parameter in the document is marked required, and its operation declares 412
    and 428. At runtime it stays optional to the validator, so a missing If-Match is still that 428 problem
    and not a 422 validation error. Every 4xx/5xx response gets the ``Problem`` schema under
    ``application/problem+json``, what the handlers in ``problems`` send, instead of FastAPI's
    ``HTTPValidationError`` under ``application/json``, so a generated client parses errors into a type.
    """
    generate = app.openapi  # caches the document until routes change

    def openapi() -> dict[str, Any]:
        schema = generate()
        problem = Problem.model_json_schema(ref_template=_SCHEMAS + "{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(problem.pop("$defs", {}))
        components[Problem.__name__] = problem
        for name in ("HTTPValidationError", "ValidationError"):  # never sent: 422 is a Problem
            components.pop(name, None)
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                for parameter in operation.get("parameters", []):
                    if parameter.get("in") == "header" and parameter.get("name") == IF_MATCH:
                        # Required and a plain string: a generated client's argument is `str`, not optional.
                        parameter["required"] = True
                        parameter["schema"] = {"type": "string", "title": IF_MATCH}
                        responses.setdefault("412", {})
                        responses.setdefault("428", {})
                for status, response in responses.items():
                    if int(status) >= 400:
                        response["description"] = _describe(int(status), response.get("description"))
                        response["content"] = {MEDIA_TYPE: {"schema": {"$ref": _SCHEMAS + Problem.__name__}}}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the document


def _describe(status: int, description: str | None) -> str:
    if description and description not in {"Validation Error", "Additional Response"}:
        return description
    return HTTPStatus(status).phrase
