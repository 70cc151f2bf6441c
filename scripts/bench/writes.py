"""Part 3: task updates per second through the REST API, with no viewer and with viewers attached.

Closed loop: ``write_plans x write_lanes_per_plan`` writers, each PATCHing its own task (If-Match with the
version it got back) as fast as the answers come. "With viewers": ``writes_viewers`` viewers spread evenly
over the written plans (a clinic's boards, not one board: 1,000 writes/s to a single board watched by
1,000 people would be a million frames a second), and every frame is counted (delivered / expected).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common import Cores, say
from session import Params, Session, describe_window
from systems import System

WARMUP_SECONDS = 1.0


def run_system(name: str, factory: Callable[[], System], cores: Cores, params: Params) -> dict[str, Any]:
    out: dict[str, Any] = {"none": None, "viewers": None, "errors": []}
    system = factory()
    session = Session(system, cores, params)
    try:
        layout = system.layout
        assert layout is not None
        plans = layout.write_plans
        lanes = params.write_lanes_per_plan
        session.window(
            {},
            rate=None,
            seconds=0.5 if params.quick else WARMUP_SECONDS,
            plans=plans,
            lanes_per_plan=lanes,
            label="warm-up",
        )
        none = session.window(
            {}, rate=None, seconds=params.writes_seconds, plans=plans, lanes_per_plan=lanes, label="no viewer"
        )
        out["none"] = none
        say(f"  {name}, no viewer: {describe_window(none)}")
        per_plan = {
            p: params.writes_viewers // len(plans) + (1 if i < params.writes_viewers % len(plans) else 0)
            for i, p in enumerate(plans)
        }
        session.connect(per_plan)
        with_viewers = session.window(
            None,
            rate=None,
            seconds=params.writes_seconds,
            plans=plans,
            lanes_per_plan=lanes,
            label=f"{params.writes_viewers} viewers",
        )
        out["viewers"] = with_viewers
        say(f"  {name}, {params.writes_viewers} viewers: {describe_window(with_viewers)}")
    except Exception as exc:
        say(f"    FAILED: {exc}")
        out["errors"].append(str(exc)[:2000])
    finally:
        session.close()
        system.stop()
    return out
