"""The one classifier of database outages, and its one log line per transition."""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from careteam.db import outage


class _PgError(Exception):
    """A driver error as psycopg shapes it (``pgcode``)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.pgcode = code


def _wrapped(orig: BaseException, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("SELECT 1", {}, orig, connection_invalidated=invalidated)  # type: ignore[arg-type]


def _caused(inner: BaseException) -> RuntimeError:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise RuntimeError("while looking up the session") from exc
    except RuntimeError as outer:
        return outer


def _cannot_open(tmp_path: Path) -> sqlite3.OperationalError:
    with pytest.raises(sqlite3.OperationalError) as raised:
        sqlite3.connect(tmp_path / "no-such-directory" / "careteam.db")
    return raised.value


UNAVAILABLE = {
    "connection refused": ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"),
    "connection reset": ConnectionResetError(errno.ECONNRESET, "reset by peer"),
    "broken pipe": BrokenPipeError(errno.EPIPE, "broken pipe"),
    "OSError refused": OSError(errno.ECONNREFUSED, "refused"),
    "host unreachable": OSError(errno.EHOSTUNREACH, "no route to host"),
    "every address refused": OSError("Multiple exceptions: [Errno 111] ..., [Errno 99] ..."),
    "timeout": TimeoutError(),
    "pool timeout": sa_exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"),
    "dropped pooled connection": _wrapped(Exception("connection is closed"), invalidated=True),
    "57P01 admin shutdown": asyncpg.exceptions.AdminShutdownError("terminating connection"),
    "57P02 crash shutdown": asyncpg.exceptions.CrashShutdownError("crash"),
    "57P03 cannot connect now": asyncpg.exceptions.CannotConnectNowError("starting up"),
    "57P03 wrapped by SQLAlchemy": _wrapped(asyncpg.exceptions.CannotConnectNowError("starting up")),
    "53300 too many connections": asyncpg.exceptions.TooManyConnectionsError(
        "sorry, too many clients already"
    ),
    "53300 wrapped by SQLAlchemy": _wrapped(asyncpg.exceptions.TooManyConnectionsError("too many clients")),
    "08006 connection failure": asyncpg.exceptions.ConnectionFailureError("lost"),
    "08001 from psycopg": _wrapped(_PgError("08001")),
    "asyncpg connection gone": asyncpg.exceptions.ConnectionDoesNotExistError("closed in the middle"),
    "refused as a cause": _caused(ConnectionRefusedError(errno.ECONNREFUSED, "refused")),
    "in an exception group": ExceptionGroup("task group", [ValueError("x"), ConnectionResetError()]),
}

AVAILABLE = {
    "a bug": ValueError("bad"),
    "unique violation": sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")),
    "22003 out of range": _wrapped(_PgError("22003")),
    "40P01 deadlock (retried, but the database is up)": _wrapped(_PgError("40P01")),
    "missing file": FileNotFoundError(errno.ENOENT, "no such file"),
    "no such table": sqlite3.OperationalError("no such table: patient"),
    "no row": sa_exc.NoResultFound("No row was found"),
}


@pytest.mark.parametrize("exc", UNAVAILABLE.values(), ids=UNAVAILABLE.keys())
def test_the_database_being_away_is_unavailable(exc: BaseException) -> None:
    assert outage.is_unavailable(exc)


@pytest.mark.parametrize("exc", AVAILABLE.values(), ids=AVAILABLE.keys())
def test_other_errors_are_not_an_outage(exc: BaseException) -> None:
    assert not outage.is_unavailable(exc)


def test_an_unopenable_sqlite_file_is_unavailable(tmp_path: Path) -> None:
    assert outage.is_unavailable(_cannot_open(tmp_path))
    assert outage.is_unavailable(_wrapped(_cannot_open(tmp_path)))


def test_the_sqlstate_is_read_through_the_wrapper() -> None:
    assert outage.sqlstate(_wrapped(asyncpg.exceptions.CannotConnectNowError("x"))) == "57P03"
    assert outage.sqlstate(ValueError()) == ""


@pytest.fixture
def up() -> Iterator[None]:
    outage.note_up()
    yield
    outage.note_up()


def test_one_log_line_per_transition(up: None, caplog: pytest.LogCaptureFixture) -> None:
    refused = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    with caplog.at_level(logging.INFO, logger="careteam.db.outage"):
        for _ in range(50):
            outage.note_down(refused)
        assert outage.is_down()
        for _ in range(50):
            outage.note_up()
        outage.note_down(refused)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3, messages
    assert messages[0].startswith("database unavailable since ")
    assert "ConnectionRefusedError" in messages[0]
    assert messages[1].startswith("database back at ")
    assert messages[2].startswith("database unavailable since ")
    assert all(r.exc_info is None for r in caplog.records)  # no traceback


def test_report_notes_an_outage_and_logs_anything_else_with_its_traceback(
    up: None, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("careteam.test")
    with caplog.at_level(logging.INFO):
        outage.report(ConnectionResetError(), log, "poll failed")
        outage.report(ConnectionResetError(), log, "poll failed")
        outage.report(ValueError("a bug"), log, "poll failed")
    assert [(r.name, r.exc_info is not None) for r in caplog.records] == [
        ("careteam.db.outage", False),
        ("careteam.test", True),
    ]
