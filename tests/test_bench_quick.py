"""The benchmark keeps working: ``scripts/bench/run.py --quick`` runs every part end to end.

No timing is asserted (CI machines are shared and noisy): only that the run exits 0 (no frame lost, no
write failed, every system measured) and printed its table of figures against targets. It needs
PostgreSQL and Redis, so it runs when CARETEAM_TEST_DATABASE_URL is set (.ci/run sets it). The
Django Channels and Socket.IO peers are skipped in quick mode (their environment is built from the
package index, which CI may not reach); the bare-websockets floor peer always runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL as PG_URL
from tests.conftest import run_database

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.alone,  # the benchmark takes both cores, and its Redis channels are the server's
    pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (CARETEAM_TEST_DATABASE_URL)"),
    pytest.mark.timeout(570),
]


def _admin_url(url: str) -> str:
    """The bench creates its own databases next to the test database: asyncpg's plain URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def test_quick_benchmark_runs_every_part(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARETEAM_")}
    env["BENCH_PG_URL"] = _admin_url(PG_URL)
    env["BENCH_DB"] = run_database("bench")  # dropped with the run's databases
    if os.environ.get("CARETEAM_TEST_REDIS_URL"):
        env["BENCH_REDIS_URL"] = os.environ["CARETEAM_TEST_REDIS_URL"]
    proc = subprocess.run(
        [sys.executable, "scripts/bench/run.py", "--quick", "--peers", "floor", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "FIGURES AGAINST TARGETS" in out, out[-3000:]
    assert "| figure | target | careteam |" in out, out[-3000:]
    assert "peers in this run: floor" in out
    assert "SKIPPED: Django Channels and python-socketio" in out
    for part in (
        "[fan-out, throughput, memory] careteam",
        "[writes] careteam-sqlite",
        "[board] postgres",
        "[my work] sqlite",
        "[case conference] careteam, PostgreSQL",
        "[fan-out at 200 viewers] careteam",
        "[fan-out at 200 viewers] floor",
        "[clinic-shaped load] careteam-postgres",
    ):
        assert part in out, out[-3000:]
    assert (tmp_path / "benchmarks.md").read_text().startswith("# Benchmarks")
    assert (tmp_path / "benchmarks.json").stat().st_size > 0
    md = (tmp_path / "benchmarks.md").read_text()
    assert "### 1c. Fan-out at N = 200 viewers" in md
    assert "### 8. Clinic-shaped mixed load" in md
    assert "clinic-shaped load (10 plans" in md  # its row in the targets table
