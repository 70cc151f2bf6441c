"""What client generators rely on in /openapi.json: short unique operation ids, a required If-Match."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from careteam.app import create_app
from careteam.settings import Settings

# <tag>-<function name>: a client's method name, with nothing of the path or the HTTP method in it.
OPERATION_ID = re.compile(r"^[a-z][a-z0-9_]*-[a-z][a-z0-9_]*$")


@pytest.fixture
def document(tmp_path: Path) -> Any:
    app = create_app(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/openapi.db",
            broker_url="memory://",
            secret_key="test-secret-key-that-is-long-enough-0123456789",
        )
    )
    return app.openapi()


def operations(document: Any) -> list[tuple[str, str, Any]]:
    return [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_operation_ids_are_unique_short_and_named_by_tag_and_function(document: Any) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids)) > 20
    for method, path, op in operations(document):
        op_id = op["operationId"]
        assert OPERATION_ID.match(op_id), op_id
        assert "api_v1" not in op_id and not op_id.endswith(f"_{method}"), op_id
        tag = re.sub(r"[^a-z0-9]+", "_", op["tags"][0].lower())
        assert op_id.startswith(f"{tag}-"), (path, op_id)
    by_path = {(m, p): op["operationId"] for m, p, op in operations(document)}
    assert by_path[("patch", "/api/v1/tasks/{task_id}")] == "tasks-patch_task"
    assert by_path[("get", "/api/v1/plans/{plan_id}")] == "care_plans-get_plan_board"


# Ending a session or token: it has no version to match (signing out twice is signing out once).
UNVERSIONED = {
    ("delete", "/api/v1/me/sessions/{session_id}"),
    ("delete", "/api/v1/users/{user_id}/sessions/{session_id}"),
    # A share has no version: taking it back twice is a 404, and nothing of it can be overwritten.
    ("delete", "/api/v1/patients/{patient_id}/shares/{user_id}"),
}


def test_if_match_is_required_on_every_patch_and_delete(document: Any) -> None:
    every = {(m, p) for m, p, _ in operations(document)}
    assert every >= UNVERSIONED, UNVERSIONED - every
    writes = [
        (m, p, op)
        for m, p, op in operations(document)
        if m in {"patch", "put", "delete"} and (m, p) not in UNVERSIONED
    ]
    assert ("delete", "/api/v1/patients/{patient_id}/care-team/members/{member_id}") in {
        (m, p) for m, p, _ in writes
    }
    for method, path, op in writes:
        headers = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "header"}
        assert headers["If-Match"]["required"] is True, (method, path)
        assert headers["If-Match"]["schema"]["type"] == "string", (method, path)


def _conditional(method: str, path: str) -> bool:
    """Changes of a version: PATCH, PUT, DELETE, Undo (it restores the move the caller saw) and withdrawing a
    score or a block response as entered-in-error (the one the caller saw)."""
    if (method, path) in UNVERSIONED:
        return False
    return method in {"patch", "put", "delete"} or (
        method == "post" and path.endswith(("/undo", "/entered-in-error"))
    )


def test_if_match_is_declared_only_where_it_is_needed(document: Any) -> None:
    for method, path, op in operations(document):
        names = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        assert ("If-Match" in names) == _conditional(method, path), (method, path)


def test_every_error_status_has_the_problem_json_schema(document: Any) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for method, path, op in operations(document):
        errors = {status: r for status, r in op["responses"].items() if int(status) >= 400}
        for status, response in errors.items():
            assert response["content"] == problem, (method, path, status)
        if _conditional(method, path):
            assert {"412", "428"} <= errors.keys(), (method, path)
    token = document["paths"]["/api/v1/auth/token"]["post"]["responses"]
    assert {"401", "422", "429"} <= token.keys()


def test_every_operation_declares_the_problems_it_can_answer(document: Any) -> None:
    """What a client must be ready for, read from the document alone: 503 everywhere (the database), 401
    and 403 wherever one signs in, 404 with a path id, 422 with any input, 409 on every write."""
    for method, path, op in operations(document):
        declared = set(op["responses"])
        expected = {"503"}
        if path != "/api/v1/auth/token":
            expected |= {"401", "403"}
        parameters = op.get("parameters", [])
        if any(p["in"] == "path" for p in parameters):
            expected.add("404")
        if parameters or "requestBody" in op:
            expected.add("422")
        if method != "get":
            expected.add("409")
        assert expected <= declared, (method, path, expected - declared)
    token = document["paths"]["/api/v1/auth/token"]["post"]["responses"]
    assert set(token) == {"200", "401", "409", "422", "429", "503"}
    me = document["paths"]["/api/v1/me"]["get"]["responses"]
    assert set(me) == {"200", "401", "403", "503"}, "a GET without input declares no 404, 409 or 422"
