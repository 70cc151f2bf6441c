"""The access log: every request, with its request id, and never the query string (patient names)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.factories import make_user


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
