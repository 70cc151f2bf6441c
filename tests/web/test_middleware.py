"""The access log: one line per request, with its request id, user id and route template, never the path's
ids or its query string (patient names); JSON with CARETEAM_LOG_FORMAT=json."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest

from careteam.logs import JsonFormatter
from careteam.patients.codes import TeamRole
from tests.factories import make_patient, make_user


async def test_access_log_has_no_query_string(
    client: Any, db: Any, login: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with db() as s:
        await make_user(s, "nurse_log")
    headers = await login("nurse_log")
    with caplog.at_level(logging.INFO, logger="careteam.access"):
        r = await client.get("/api/v1/patients", params={"q": "Ellen Marsh"}, headers=headers)
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "careteam.access"]
    assert any(line.startswith("GET /api/v1/patients 200 ") for line in lines), lines
    assert any(f"rid={r.headers['x-request-id']}" in line for line in lines)
    assert not any("Ellen" in line or "q=" in line for line in lines)


@contextmanager
def json_lines(logger_name: str = "careteam.access") -> Iterator[io.StringIO]:
    """What ``logger_name`` writes, formatted as ``CARETEAM_LOG_FORMAT=json`` formats it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_a_request_is_one_json_line_with_its_route_template_and_no_query_string(
    client: Any, db: Any, login: Any
) -> None:
    async with db() as s:
        nurse = await make_user(s, "nurse_json")
        patient = await make_patient(s, members=[(nurse, TeamRole.member)])
    headers = await login("nurse_json")
    with json_lines() as out:
        r = await client.get(f"/api/v1/patients/{patient.id}", params={"fields": "all"}, headers=headers)
    assert r.status_code == 200, r.text
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines
    line = orjson.loads(lines[0])
    assert {k: line[k] for k in ("request_id", "user_id", "method", "route", "status")} == {
        "request_id": r.headers["x-request-id"],
        "user_id": nurse.id,
        "method": "GET",
        "route": "/api/v1/patients/{patient_id}",
        "status": 200,
    }
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert (line["level"], line["logger"]) == ("INFO", "careteam.access")
    assert "fields" not in lines[0] and "?" not in lines[0]
    assert f"/patients/{patient.id}" not in lines[0], "the path, not its template"


async def test_a_patient_name_in_a_query_string_is_never_logged(
    client: Any, db: Any, login: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with db() as s:
        nurse = await make_user(s, "nurse_search")
        await make_patient(s, members=[(nurse, TeamRole.member)], name="Ellen Marsh")
    headers = await login("nurse_search")
    with caplog.at_level(logging.DEBUG), json_lines() as out:
        for path in ("/api/v1/search", "/api/v1/patients", "/search", "/no/such/path"):
            await client.get(path, params={"q": "Ellen Marsh"}, headers=headers)
    access = out.getvalue().splitlines()
    assert len(access) == 4, access
    assert [orjson.loads(line)["route"] for line in access] == [
        "/api/v1/search",
        "/api/v1/patients",
        "/search",
        "unmatched",
    ]
    # Everything the server logged (the test's own HTTP client logs the URLs it asked for).
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert server, "nothing captured"
    text = [r.getMessage() for r in server] + [JsonFormatter().format(r) for r in server]
    assert not any("Ellen" in line or "Marsh" in line for line in [*text, *access])


async def test_a_unknown_path_is_logged_as_unmatched_never_as_the_path(client: Any) -> None:
    with json_lines() as out:
        await client.get("/static/css/app.css")
        await client.get("/patients-of-Ellen-Marsh")
    assert [orjson.loads(line)["route"] for line in out.getvalue().splitlines()] == [
        "/static/{path}",
        "unmatched",
    ]
