"""Errors outside any route: problem+json for API clients, an HTML page for browsers."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from careteam.accounts import sessions as auth_sessions
from careteam.db import outage


async def test_unknown_api_path_is_problem_json(client: Any) -> None:
    r = await client.get("/api/v1/nope", headers={"Accept": "text/html"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "/problems/not-found"


async def test_unknown_page_is_an_html_page_for_a_browser(client: Any) -> None:
    r = await client.get("/no-such-page", headers={"Accept": "text/html,application/xhtml+xml"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "Page not found" in r.text and "There is no page at this address." in r.text


async def test_wrong_method_on_a_page_is_html_and_on_the_api_is_json(client: Any) -> None:
    page = await client.delete("/login", headers={"Accept": "text/html"})
    assert page.status_code == 405 and page.headers["content-type"].startswith("text/html")
    api = await client.delete("/api/v1/me")
    assert api.status_code == 405 and api.headers["content-type"].startswith("application/problem+json")


async def test_a_wrong_method_lists_every_method_of_the_path_in_allow(client: Any) -> None:
    r = await client.put("/api/v1/tasks/1")
    assert r.status_code == 405 and r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["allow"] == "GET, PATCH"
    page = await client.delete("/login", headers={"Accept": "text/html"})
    assert page.status_code == 405 and page.headers["allow"] == "GET, POST"


async def test_a_literal_path_is_not_answered_by_the_parameter_beside_it(client: Any) -> None:
    """Only GET exists at /conferences/suggestions: a PATCH there is 405, not the 428 of PATCH
    /conferences/{conference_id}, and the batch of care-team members has no DELETE of a member."""
    r = await client.patch("/api/v1/conferences/suggestions")
    assert r.status_code == 405 and r.headers["allow"] == "GET"
    r = await client.delete("/api/v1/patients/1/care-team/members/batch")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert r.json()["type"] == "/problems/method-not-allowed"


async def test_a_lost_database_connection_is_503_with_retry_after_not_500(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def dropped(*_args: Any, **_kwargs: Any) -> None:
        raise DBAPIError(
            "SELECT 1",
            None,
            ConnectionResetError("server closed the connection"),
            connection_invalidated=True,
        )

    monkeypatch.setattr(auth_sessions, "resolve", dropped)
    r = await client.get("/api/v1/patients", headers={"Authorization": "Bearer some-token"})
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["retry-after"] == str(outage.RETRY_AFTER_SECONDS)
    assert r.json()["type"] == "/problems/unavailable" and r.json()["title"] == "Database unavailable"
    outage.note_up()  # this process's outage state back to "up" for the tests that follow


class _Deadlock(Exception):
    sqlstate = "40P01"


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
async def test_a_deadlock_victim_is_503_with_retry_after_not_500(
    client: Any, monkeypatch: pytest.MonkeyPatch, sqlstate: str
) -> None:
    async def rolled_back(*_args: Any, **_kwargs: Any) -> None:
        error = _Deadlock("deadlock detected")
        error.sqlstate = sqlstate
        raise DBAPIError("UPDATE event_stream", None, error)

    monkeypatch.setattr(auth_sessions, "resolve", rolled_back)
    r = await client.get("/api/v1/patients", headers={"Authorization": "Bearer some-token"})
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "1"
    assert r.json()["title"] == "Database busy"
