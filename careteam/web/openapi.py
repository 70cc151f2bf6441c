"""The OpenAPI document as client generators need it: short operation ids, a required If-Match, and every
error status a route can answer, each a ``Problem`` under ``application/problem+json``.

Integrators generate clients from ``/openapi.json`` (openapi-python-client, openapi-generator), and the
operation id becomes the method name. FastAPI's default, ``patch_task_api_v1_tasks__task_id__patch``, spells
the path and changes whenever a route moves; ``tasks-patch_task`` changes only when the endpoint is renamed.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.utils import generate_unique_id

from careteam.web import deps
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


# What each derived status means, for the document's readers; a route's own ``responses=`` may say it
# more precisely ("No such referral, or not yours to see").
_DERIVED_DESCRIPTIONS = {
    401: "Not signed in, or the session or token ended (WWW-Authenticate: Bearer)",
    403: "Not allowed: the role, a password change pending, or a cookie write without its CSRF token",
    404: "No such resource, or another team's",
    409: "Conflicts with the present state: a duplicate, a transition not allowed now, a concurrent change",
    412: "Changed by someone else since that ETag: `current` shows it now",
    422: "Invalid input: `errors` names each field (body, query, path or header) and why",
    428: "If-Match missing: send the ETag you last read",
    503: "The database cannot be reached just now; nothing was saved (Retry-After)",
}


def error_statuses(route: APIRoute) -> set[int]:
    """The error statuses a route can answer because of what it depends on and what every route shares;
    what only it answers (sign-in's 429) it declares itself, with ``responses=``.

    The unit of work -> 503 (the database unavailable), and 409 on a write (a uniqueness race, a duplicate,
    a transition not allowed now); the signed-in actor -> 401, and 403 (a pending password change, a
    cookie write without its CSRF token, or the role the service checks); a path id -> 404 (missing, or
    another team's: the same answer); any parameter or body -> 422; If-Match -> 412, 428.
    """
    dependants = _dependants(route.dependant)
    calls = {d.call for d in dependants if d.call is not None}
    writes = not (route.methods or set()) <= deps.SAFE_METHODS
    statuses: set[int] = set()
    if deps.get_session in calls:
        statuses.add(503)
        if writes:
            statuses.add(409)  # a race past a uniqueness check loses with 409 (problems.ERRORS)
    if deps.current_actor in calls:
        statuses |= {401, 403}
    elif deps.optional_actor in calls and writes:
        statuses.add(403)  # a cookie-authenticated write without its CSRF token
    if any(d.path_params for d in dependants):
        statuses.add(404)
    if any(d.path_params or d.query_params or d.header_params or d.body_params for d in dependants):
        statuses.add(422)
    if deps.if_match in calls:
        statuses |= {412, 428}
    return statuses


def _dependants(dependant: Dependant) -> list[Dependant]:
    return [dependant, *(d for sub in dependant.dependencies for d in _dependants(sub))]


def install(app: FastAPI) -> None:
    """Declare every error status each operation can answer (``error_statuses``), If-Match required where
    428 answers without it, and every error status as problem+json.

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
        paths = schema.get("paths", {})
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if not isinstance(route, APIRoute) or context.path_format not in paths:
                continue
            for method in context.methods or ():
                operation = paths[context.path_format].get(method.lower())
                if operation is not None:
                    responses = operation.setdefault("responses", {})
                    for status in sorted(error_statuses(route)):
                        responses.setdefault(str(status), {})
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
    return _DERIVED_DESCRIPTIONS.get(status) or HTTPStatus(status).phrase
