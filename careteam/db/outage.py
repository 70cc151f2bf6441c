"""Database outages: which errors mean "the database cannot be reached now", and one log line per outage.

Every edge asks :func:`is_unavailable` (HTTP routes and pages answer 503, the websocket closes with a code the
client retries on, the hub and the job runner try again later) and reports through :func:`report` instead of
logging a traceback per request: the first failure logs "database unavailable since …", the first unit of
work that commits afterwards logs "database back at …". Nothing partial is stored during an outage: each
write is one transaction (``careteam.db.engine.unit_of_work``), rolled back whole when the connection fails.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading
from datetime import UTC, datetime

from sqlalchemy import exc as sa_exc

log = logging.getLogger("careteam.db.outage")

# Seconds a client is asked to wait (Retry-After) before sending a request again during an outage.
RETRY_AFTER_SECONDS = 2

# SQLSTATEs of a server that is going away, not yet there or full: admin_shutdown, crash_shutdown,
# cannot_connect_now (starting up or shutting down), too_many_connections (max_connections reached: every
# process's pools together, or another client's). Class 08 (connection exceptions) is matched as a class.
_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
# A connection that could not be made or was cut: refused, reset, aborted, unreachable, timed out.
_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.ETIMEDOUT,
    }
)
# SQLite: the file cannot be opened, or the disk under it fails.
_SQLITE_ERRORS = ("SQLITE_CANTOPEN", "SQLITE_IOERR")
# A driver's connection-level error class, for drivers that raise them unwrapped (asyncpg).
_DRIVER_CLASSES = frozenset(
    {"ConnectionDoesNotExistError", "ConnectionFailureError", "ClientCannotConnectError"}
)


def sqlstate(exc: BaseException) -> str:
    """The SQLSTATE an exception (or the driver error it wraps) carries, or ""."""
    for err in (exc, getattr(exc, "orig", None), getattr(getattr(exc, "orig", None), "__cause__", None)):
        code = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
        if isinstance(code, str):
            return code
    return ""


def _unavailable_here(exc: BaseException) -> bool:
    """This one exception, not its causes."""
    match exc:
        case sa_exc.TimeoutError():  # no connection free in the pool in time
            return True
        case sa_exc.DBAPIError(connection_invalidated=True):  # the server dropped a pooled connection
            return True
        case ConnectionError() | TimeoutError():  # refused, reset, broken pipe; a connect or command timeout
            return True
        case OSError(errno=number) if number in _ERRNOS:
            return True
        case OSError(errno=None) if str(exc).startswith("Multiple exceptions"):
            return True  # asyncio: every address of the host refused
        case sqlite3.OperationalError() if getattr(exc, "sqlite_errorname", "").startswith(_SQLITE_ERRORS):
            return True
    if type(exc).__name__ in _DRIVER_CLASSES:
        return True
    code = sqlstate(exc)
    return code.startswith("08") or code in _SQLSTATES


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached now (and the same request may succeed later).

    Walks what it wraps: SQLAlchemy's ``orig``, ``__cause__`` and ``__context__``, and exception groups.
    """
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        err = todo.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        if _unavailable_here(err):
            return True
        if isinstance(err, BaseExceptionGroup):
            todo.extend(err.exceptions)
        for inner in (getattr(err, "orig", None), err.__cause__, err.__context__):
            if isinstance(inner, BaseException):
                todo.append(inner)
    return False


class _State:
    """Whether this process last saw the database down, and since when (one log line per transition)."""

    def __init__(self) -> None:
        self.down_since: datetime | None = None
        self.lock = threading.Lock()


_state = _State()


def note_down(exc: BaseException) -> None:
    """The database could not be reached: log it if it was up until now (the error's class only)."""
    if _state.down_since is not None:
        return
    with _state.lock:
        if _state.down_since is not None:
            return
        _state.down_since = datetime.now(UTC)
    log.warning(
        "database unavailable since %s (%s); answering 503 until it is back",
        _state.down_since.isoformat(timespec="seconds"),
        type(exc).__name__,
    )


def note_up() -> None:
    """A unit of work committed: if the database was down, log that it is back."""
    if _state.down_since is None:
        return
    with _state.lock:
        since, _state.down_since = _state.down_since, None
    if since is not None:
        now = datetime.now(UTC)
        took = (now - since).total_seconds()
        log.warning("database back at %s after %.1f s", now.isoformat(timespec="seconds"), took)


def is_down() -> bool:
    return _state.down_since is not None


def report(exc: BaseException, logger: logging.Logger, message: str, *args: object) -> None:
    """In an ``except`` block: an outage is noted once; anything else is logged with its traceback."""
    if is_unavailable(exc):
        note_down(exc)
    else:
        logger.error(message, *args, exc_info=exc)
