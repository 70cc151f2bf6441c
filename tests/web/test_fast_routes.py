"""The thin route of ``PATCH /api/v1/tasks/{id}`` (web/fast.py) answers exactly as its FastAPI route: the same
requests, on two identical tasks, one through each, give the same status, body and headers; a request that
is not plainly well formed is answered by the FastAPI route itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from careteam.plans import routes as plans_routes
from careteam.web.fast import FastRoute
from tests.accounts.test_sessions import browser, form_login
from tests.board_world import make_board

# What differs between two tasks made alike: their ids, times, places on the board, the request id.
_VOLATILE = {"id", "created_at", "updated_at", "status_changed_at", "instance", "position"}


def _same(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _same(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_same(v) for v in value]
    if isinstance(value, str):
        return re.sub(r"/tasks/\d+", "/tasks/N", value)
    return value


@contextmanager
def _served(app: Any, *, fast: bool) -> Iterator[list[int]]:
    """With the thin route in front (``fast``) or taken out; yields the ids the thin route served itself."""
    (route,) = [r for r in app.router.routes if isinstance(r, FastRoute)]
    served: list[int] = []
    write = route.write

    async def counted(item_id: int, *args: Any) -> Any:
        served.append(item_id)
        return await write(item_id, *args)

    route.write = counted
    at = app.router.routes.index(route)
    if not fast:
        app.router.routes.remove(route)
    try:
        yield served
    finally:
        route.write = write
        if not fast:
            app.router.routes.insert(at, route)


async def _two_tasks(
    client: httpx.AsyncClient, headers: dict[str, str], plan_id: int
) -> list[dict[str, Any]]:
    made = []
    for _ in range(2):
        r = await client.post(
            f"/api/v1/plans/{plan_id}/tasks",
            json={"title": "Repeat UDS", "discipline": "nurse", "status": "ready"},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        made.append(r.json())
    return made


def _answer(r: httpx.Response) -> tuple[int, Any, str | None, str]:
    body = r.json() if r.content else None
    return r.status_code, _same(body), r.headers.get("etag"), r.headers["content-type"]


CASES: list[tuple[str, dict[str, Any], dict[str, str] | None, bool]] = [
    # (what, JSON body, If-Match (None: the task's own), served by the thin route)
    ("an edit", {"title": "Repeat UDS Friday", "priority": "urgent"}, None, True),
    ("a move", {"status": "in-progress"}, None, True),
    ("a move the state machine refuses", {"status": "draft"}, None, True),
    ("a cancel without a reason", {"status": "cancelled"}, None, True),
    ("a stale version", {"title": "Too late"}, {"If-Match": 'W/"7"'}, True),
    ("no change at all", {"title": "Repeat UDS"}, None, True),
    ("an assignee off the team", {"assignee_id": 999999}, None, True),
    ("no If-Match", {"title": "x"}, {}, False),
    ("a malformed If-Match", {"title": "x"}, {"If-Match": "seven"}, False),
    ("an unknown status", {"status": "finished"}, None, False),
    ("a title too long", {"title": "x" * 5000}, None, False),
    ("an unknown field's type", {"priority": 3}, None, False),
]


@pytest.mark.parametrize(("what", "body", "if_match", "thin"), CASES, ids=[c[0] for c in CASES])
async def test_both_routes_answer_alike(
    app: Any,
    client: httpx.AsyncClient,
    db: Any,
    login: Any,
    what: str,
    body: dict[str, Any],
    if_match: dict[str, str] | None,
    thin: bool,
) -> None:
    b = await make_board(db)
    h = await login(b.nurse)
    tasks = await _two_tasks(client, h, b.plan_id)
    answers = []
    for task, fast in zip(tasks, (True, False), strict=True):
        headers = {**h, **({"If-Match": f'W/"{task["version"]}"'} if if_match is None else if_match)}
        with _served(app, fast=fast) as served:
            r = await client.patch(f"/api/v1/tasks/{task['id']}", json=body, headers=headers)
        assert served == ([task["id"]] if fast and thin else []), what
        answers.append(_answer(r))
    assert answers[0] == answers[1], what
    assert answers[0][0] < 500


async def test_refusals_before_the_write_answer_alike(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    """Signed out, another team's task, an id out of range, a form body: as the FastAPI route answers."""
    b = await make_board(db)
    h = await login(b.nurse)
    outsider = await login(b.outsider)
    task, _ = await _two_tasks(client, h, b.plan_id)
    tag = {"If-Match": f'W/"{task["version"]}"'}
    requests: list[tuple[str, dict[str, Any]]] = [
        (f"/api/v1/tasks/{task['id']}", {"json": {"title": "x"}, "headers": tag}),
        (f"/api/v1/tasks/{task['id']}", {"json": {"title": "x"}, "headers": {**outsider, **tag}}),
        ("/api/v1/tasks/99999999999", {"json": {"title": "x"}, "headers": {**h, **tag}}),
        ("/api/v1/tasks/0", {"json": {"title": "x"}, "headers": {**h, **tag}}),
        (f"/api/v1/tasks/{task['id']}", {"data": {"title": "x"}, "headers": {**h, **tag}}),
        (
            f"/api/v1/tasks/{task['id']}",
            {"content": b"{not json", "headers": {**h, **tag, "content-type": "application/json"}},
        ),
    ]
    for path, kwargs in requests:
        seen = []
        for fast in (True, False):
            with _served(app, fast=fast):
                r = await client.patch(path, **kwargs)
            seen.append(_answer(r))
        assert seen[0] == seen[1], path
        assert 400 <= seen[0][0] < 500, (path, seen[0])


async def test_a_cookie_write_needs_its_csrf_token_on_the_thin_route(app: Any, db: Any, login: Any) -> None:
    b = await make_board(db)
    h = await login(b.nurse)
    async with browser(app) as c:
        assert (await form_login(c, b.nurse)).status_code == 303
        page = await c.get(f"/plans/{b.plan_id}")
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert token
        (task, _) = await _two_tasks(c, {**h}, b.plan_id)
        tag = {"If-Match": f'W/"{task["version"]}"', "Origin": "http://testserver"}
        with _served(app, fast=True) as served:
            refused = await c.patch(f"/api/v1/tasks/{task['id']}", json={"title": "x"}, headers=tag)
            done = await c.patch(
                f"/api/v1/tasks/{task['id']}",
                json={"title": "x"},
                headers={**tag, "X-CSRF-Token": token.group(1)},
            )
    assert refused.status_code == 403, refused.text
    assert done.status_code == 200, done.text
    assert served == [task["id"]]  # the refused one never reached the write


def test_the_thin_route_stands_in_front_of_its_fastapi_route() -> None:
    from careteam.app import create_app
    from careteam.settings import Settings

    app = create_app(Settings())
    assert app.router.routes[: len(plans_routes.FAST_ROUTES)] == list(plans_routes.FAST_ROUTES)
    assert "/api/v1/tasks/{task_id}" in app.openapi()["paths"]  # the contract stays FastAPI's
