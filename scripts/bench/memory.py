"""RSS per idle subscribed connection: the server's RSS before and after N viewers subscribe, divided by N.

"Before" is taken after a warm-up (a few viewers on another plan and one write there, so every code path
of a subscription and a fan-out has been imported and run); "after" once the N viewers are subscribed
and the server has been idle for a moment. The warm-up viewers are in both figures, so they cancel out.
"""

from __future__ import annotations

import time
from typing import Any

from systems import System


def rss_sample(system: System, *, settle: float = 0.0) -> int:
    if settle:
        time.sleep(settle)
    return system.rss()


def per_connection(before: int, after: int, n: int) -> dict[str, Any]:
    delta = after - before
    return {
        "connections": n,
        "rss_before_mib": round(before / 2**20, 1),
        "rss_after_mib": round(after / 2**20, 1),
        "kib_per_connection": round(delta / n / 1024, 1) if n else None,
    }
