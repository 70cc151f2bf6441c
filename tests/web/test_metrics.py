"""GET /metrics: off by default; when on, the counters an operator watches move with what users do."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from careteam import metrics
from careteam.app import create_app
from careteam.settings import Settings
from tests.board_world import make_board
from tests.factories import PASSWORD
from tests.live import LiveServer

TOKEN = "scrape-" + "s" * 24


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics": True})


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a scrape (0 when absent: a counter not yet incremented has no sample)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


@pytest.fixture
async def live(app: Any, settings: Settings) -> AsyncIterator[str]:
    server = LiveServer(app, settings)
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()


async def test_a_board_move_moves_the_request_fanout_and_subscription_counters(
    app: Any, db: Any, live: str
) -> None:
    board = await make_board(db)
    async with httpx.AsyncClient(base_url=live) as http:
        r = await http.post("/api/v1/auth/token", json={"username": board.nurse, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await http.post(
            f"/api/v1/plans/{board.plan_id}/tasks",
            json={"title": "UDS due", "discipline": "nurse"},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        task = r.json()
        before = (await http.get("/metrics")).text

        ws_url = live.replace("http://", "ws://") + "/ws"
        async with connect(ws_url, additional_headers=headers) as ws:
            await ws.send(orjson.dumps({"type": "subscribe", "stream": f"plan:{board.plan_id}"}).decode())
            assert orjson.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "snapshot"
            subscribed = (await http.get("/metrics")).text

            r = await http.patch(
                f"/api/v1/tasks/{task['id']}",
                json={"status": "in-progress"},
                headers={**headers, "If-Match": f'W/"{task["version"]}"'},
            )
            assert r.status_code == 200, r.text
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame["type"] == "event" and frame["kind"] == "task.moved", frame
            after = (await http.get("/metrics")).text

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    route = {"method": "PATCH", "route": "/api/v1/tasks/{task_id}"}
    assert moved("careteam_http_requests_total", **route, status="200") == 1
    assert moved("careteam_http_request_duration_seconds_count", **route) == 1
    assert moved("careteam_fanout_latency_seconds_count") >= 1
    # Timed from the event's own time in the log: seconds at most, never hours (a time zone) or decades.
    assert 0 <= moved("careteam_fanout_latency_seconds_sum") < 60
    assert (
        sample(subscribed, "careteam_websocket_subscriptions", kind="plan")
        - sample(before, "careteam_websocket_subscriptions", kind="plan")
        == 1
    )
    assert (
        sample(subscribed, "careteam_websocket_connections")
        - sample(before, "careteam_websocket_connections")
        == 1
    )
    # Route templates only: no task id, no path a client typed.
    assert f"/api/v1/tasks/{task['id']}" not in after


async def test_metrics_is_not_found_when_the_setting_is_off(settings: Settings) -> None:
    off = create_app(settings.model_copy(update={"metrics": False}))
    async with (
        off.router.lifespan_context(off),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=off), base_url="http://testserver") as c,
    ):
        r = await c.get("/metrics")
    assert r.status_code == 404
    assert "careteam_" not in r.text


async def test_metrics_token_is_required_when_set(settings: Settings) -> None:
    guarded = create_app(settings.model_copy(update={"metrics_token": TOKEN}))
    async with (
        guarded.router.lifespan_context(guarded),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=guarded), base_url="http://testserver") as c,
    ):
        assert (await c.get("/metrics")).status_code == 401
        assert (await c.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        r = await c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "careteam_http_requests_total" in r.text


async def test_metrics_is_not_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/metrics" not in paths and (await client.get("/metrics")).status_code == 200


async def test_an_unmatched_path_is_counted_without_the_path(client: httpx.AsyncClient) -> None:
    await client.get("/no/such/page-Ellen-Marsh")
    text = (await client.get("/metrics")).text
    assert sample(text, "careteam_http_requests_total", route=metrics.UNMATCHED, status="404") >= 1
    assert "Ellen" not in text


# Several workers: each writes its values to files in the directory, /metrics sums them.
_WORKER = """
import sys
from careteam import metrics
metrics.request_done("GET", "/api/v1/me", 200, 0.01)
metrics.socket_opened()
metrics.job_ran("events.prune", "ok")
"""


def _worker(directory: Path) -> None:
    env = {**os.environ, metrics.MULTIPROC_DIR: str(directory)}
    subprocess.run([sys.executable, "-c", _WORKER], env=env, check=True, timeout=60)


def _scrape(directory: Path) -> str:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return generate_latest(registry).decode()


def test_several_workers_are_summed_and_a_dead_workers_sockets_forgotten(tmp_path: Path) -> None:
    _worker(tmp_path)
    _worker(tmp_path)
    route = {"method": "GET", "route": "/api/v1/me", "status": "200"}
    text = _scrape(tmp_path)
    assert sample(text, "careteam_http_requests_total", **route) == 2
    assert sample(text, "careteam_websocket_connections") == 2
    # Both workers have exited: their open sockets are gone, what they counted is not.
    assert len(metrics.forget_dead_workers(tmp_path)) == 2
    text = _scrape(tmp_path)
    assert sample(text, "careteam_websocket_connections") == 0
    assert sample(text, "careteam_http_requests_total", **route) == 2
    assert sample(text, "careteam_job_runs_total", job="events.prune", outcome="ok") == 2


def test_serve_with_several_workers_gives_them_one_fresh_metrics_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from careteam.cli import app as cli

    seen: list[tuple[int, str | None, bool]] = []

    def fake_run(*args: Any, **kw: Any) -> None:
        directory = os.environ.get(metrics.MULTIPROC_DIR)
        seen.append((kw["workers"], directory, directory is not None and Path(directory).is_dir()))

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.delenv(metrics.MULTIPROC_DIR, raising=False)
    env = {
        "CARETEAM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db",
        "CARETEAM_BROKER_URL": "redis://127.0.0.1:1/0",  # never contacted: uvicorn.run is replaced
        "CARETEAM_METRICS": "true",
    }
    for workers in ("2", "1"):
        result = CliRunner().invoke(cli, ["serve", "--workers", workers], env=env)
        assert result.exit_code == 0, result.output
    (two, directory, existed), one = seen
    assert (two, existed) == (2, True)
    assert one == (1, None, False), "one process needs no files"
    assert directory is not None and not Path(directory).exists(), "removed when the server stops"
    assert metrics.MULTIPROC_DIR not in os.environ


async def test_a_made_up_method_is_counted_as_other(client: httpx.AsyncClient) -> None:
    await client.request("BREW", "/no/such/page")
    text = (await client.get("/metrics")).text
    assert sample(text, "careteam_http_requests_total", method="other", route=metrics.UNMATCHED) >= 1
    assert "BREW" not in text
