"""CARETEAM_LOG_FORMAT: JSON lines for a log shipper (careteam/logs.py), text for a terminal; the serve and
one-off commands honour it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from careteam.cli import log_config
from careteam.logs import JsonFormatter


def _record(msg: str, *args: object, **extra: Any) -> logging.LogRecord:
    record = logging.getLogger("careteam.test").makeRecord(
        "careteam.test", logging.WARNING, __file__, 1, msg, args, None
    )
    record.__dict__.update(extra)
    return record


def test_a_record_is_one_json_object_with_its_extra_fields() -> None:
    line = JsonFormatter().format(_record("caught up to %s", 7, request_id="abc12345", status=200))
    body = orjson.loads(line)
    assert body["message"] == "caught up to 7"
    assert (body["level"], body["logger"]) == ("WARNING", "careteam.test")
    assert (body["request_id"], body["status"]) == ("abc12345", 200)
    assert body["time"].endswith("+00:00")
    assert "args" not in body and "msg" not in body and "exc_info" not in body


def test_a_traceback_stays_on_the_one_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.getLogger("careteam.test").makeRecord(
            "careteam.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "RuntimeError: boom" in orjson.loads(line)["exception"]


def test_a_field_json_cannot_encode_is_written_as_text() -> None:
    body = orjson.loads(JsonFormatter().format(_record("x", where=Path("/tmp/x"))))
    assert body["where"] == "/tmp/x"


# The outage transitions of careteam/db/outage.py and an access line, logged by a process configured as
# ``careteam`` configures itself (cli.main).
_PROCESS = """
import logging
from careteam.cli import configure_logging
from careteam.db import outage
configure_logging()
outage.note_down(ConnectionRefusedError())
outage.note_up()
logging.getLogger("careteam.access").info("GET /api/v1/me 200", extra={"route": "/api/v1/me", "status": 200})
"""


def _stderr_lines(log_format: str) -> list[str]:
    env = {**os.environ, "CARETEAM_LOG_FORMAT": log_format}
    done = subprocess.run(
        [sys.executable, "-c", _PROCESS], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stderr.splitlines()


def test_the_commands_log_json_lines_when_asked() -> None:
    lines = [orjson.loads(line) for line in _stderr_lines("json")]
    assert [(line["logger"], line["level"]) for line in lines] == [
        ("careteam.db.outage", "WARNING"),
        ("careteam.db.outage", "WARNING"),
        ("careteam.access", "INFO"),
    ]
    assert lines[0]["message"].startswith("database unavailable since ")
    assert lines[1]["message"].startswith("database back at ")
    assert (lines[2]["route"], lines[2]["status"]) == ("/api/v1/me", 200)


def test_the_commands_log_text_by_default() -> None:
    lines = _stderr_lines("text")
    assert len(lines) == 3
    assert lines[0].startswith("WARNING:") and "database unavailable since" in lines[0]
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(lines[2])


def test_serve_hands_the_log_format_to_uvicorn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import uvicorn

    from careteam.cli import app as cli

    started: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: started.append(kw))
    env = {"CARETEAM_LOG_FORMAT": "json", "CARETEAM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db"}
    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert result.exit_code == 0, result.output
    assert started[0]["log_config"] == log_config("json")
    assert started[0]["log_config"]["formatters"]["default"] == {"()": "careteam.logs.JsonFormatter"}
