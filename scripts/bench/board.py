"""Part 4: GET of a board with 500 and 2,000 tasks, as JSON and as the HTML page, in-process.

The app is driven with httpx's ASGITransport (no socket, no server loop in between), pinned to the server's
CPU; every SQL statement the app sends is counted with a ``before_cursor_execute`` listener on the app's own
engine (``app.state.engine.sync_engine``), so "queries per request" is exactly what reached the database.
JSON is read with the bearer token, the page with a cookie session (``auth.sessions.open_session``).
"""

from __future__ import annotations

import asyncio
import os
from datetime import date, timedelta
from typing import Any

from common import Cores, counting_statements, pin, say, timed_gets
from systems import SECRET, Layout

WARMUP = 3


async def _seed_board(db_url: str, layout: Layout, size: int) -> int:
    """A plan of ``size`` tasks spread over lanes and columns, with assignees, due dates and checklists."""
    from careteam.core.vocab import Discipline
    from careteam.db.engine import make_engine, make_sessionmaker, unit_of_work
    from careteam.plans.tables import CarePlan, Task

    statuses = ["requested", "ready", "in-progress", "on-hold", "completed", "accepted"]
    disciplines = [d.value for d in Discipline]
    engine = make_engine(db_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            first = await s.get(CarePlan, layout.fanout_plan)
            assert first is not None
            plan = CarePlan(patient_id=first.patient_id, title=f"Board of {size} tasks", status="active")
            s.add(plan)
            await s.flush()
            plan_id = plan.id or 0
            s.add_all(
                Task(
                    plan_id=plan_id,
                    title=f"Task {k}: follow up on the pain diary",
                    description="Review NRS scores with the patient; adjust the plan if above 6.",
                    discipline=disciplines[k % len(disciplines)],
                    assignee_id=layout.user_id if k % 3 == 0 else None,
                    status=statuses[k % len(statuses)],
                    priority="urgent" if k % 10 == 0 else "routine",
                    due_date=date.today() + timedelta(days=k % 30 - 10),
                    position=1024.0 * (k + 1),
                    checklist=[
                        {"text": "Call the patient", "done": k % 2 == 0},
                        {"text": "Chart it", "done": False},
                    ],
                )
                for k in range(size)
            )
    finally:
        await engine.dispose()
    return plan_id


async def _measure(db_url: str, layout: Layout, sizes: tuple[int, ...], requests: int) -> dict[str, Any]:
    import httpx

    from careteam.app import create_app
    from careteam.settings import Settings

    plans = {size: await _seed_board(db_url, layout, size) for size in sizes}
    # No scheduled-job runner: its polls would be counted as the board's queries.
    settings = Settings(
        database_url=db_url,
        broker_url="memory://",
        secret_key=SECRET,
        allowed_origins="http://testserver",
        jobs_enabled=False,
    )
    app = create_app(settings)
    out: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        with counting_statements(app.state.engine) as statements:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                kinds = {
                    "json": ("/api/v1/plans/{}", {"Authorization": f"Bearer {layout.token}"}),
                    "html": ("/plans/{}", {"Cookie": f"{settings.session_cookie_name}={layout.cookie}"}),
                }
                for size, plan_id in plans.items():
                    out[size] = {}
                    for kind, (path, headers) in kinds.items():
                        figures, _ = await timed_gets(
                            client, path.format(plan_id), headers, statements, requests, warmup=WARMUP
                        )
                        out[size][kind] = figures
                        say(
                            f"  board {size} tasks, {kind}: p50 {figures['p50_ms']} ms, "
                            f"p99 {figures['p99_ms']} ms, queries/request {figures['queries']}, "
                            f"{figures['bytes'] // 1024} KiB"
                        )
    return out


def run(db_url: str, layout: Layout, cores: Cores, sizes: tuple[int, ...], requests: int) -> dict[str, Any]:
    """Pinned to the server's CPU for the measurement (client and app share it, as in-process)."""
    saved = os.sched_getaffinity(0)
    pin(cores.server)
    try:
        return asyncio.run(_measure(db_url, layout, sizes, requests))
    finally:
        pin(saved)
