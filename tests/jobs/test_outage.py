"""The job runner through a database outage: one log line, not a traceback per poll; the job stays due and
runs at the first poll after the database is back."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest

from careteam.db import outage
from careteam.db.engine import make_engine, make_sessionmaker
from careteam.jobs.clock import ManualClock
from careteam.jobs.runner import Runner
from tests.jobs.conftest import EVERY, Probe, tick


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_polls_during_an_outage_log_once_and_the_job_runs_when_it_is_back(
    app: Any, clock: ManualClock, probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    runner: Runner = app.state.jobs
    sessions = runner._sessions
    outage.note_up()
    caplog.clear()
    with socket.socket() as closed:  # bound, not listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        away = make_engine(f"postgresql+asyncpg://careteam@127.0.0.1:{closed.getsockname()[1]}/careteam")
        runner._sessions = make_sessionmaker(away)
        try:
            with caplog.at_level(logging.INFO):
                await tick(app, clock, EVERY)  # the job is due: the poll cannot claim it
                for _ in range(5):
                    await tick(app, clock)
                assert probe.runs == []
                runner._sessions = sessions
                await tick(app, clock)
        finally:
            runner._sessions = sessions
            await away.dispose()
    assert len(probe.runs) == 1  # still due, run once the database is back
    lines = [r.getMessage().split(" since ")[0].split(" at ")[0] for r in caplog.records]
    assert lines == ["database unavailable", "database back"]
    assert not [r for r in caplog.records if r.exc_info]
