"""Log lines as JSON objects, one per line (``CARETEAM_LOG_FORMAT=json``), for a log shipper.

A stdlib ``logging.Formatter``: every logger (careteam's, uvicorn's) keeps logging as it does, and
``careteam serve``/``careteam demo`` pick this formatter or the plain text one (cli.py). Each line has
``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, the fields a call passed with ``extra=``
(the access log's ``request_id``, ``user_id``, ``route``, ``status``, ``duration_ms``...), and
``exception`` with the traceback when there is one. What goes into a message is the caller's business:
careteam logs no patient data in any format.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Final

import orjson

# A LogRecord's own attributes; any other attribute came from ``extra=`` and becomes a field of the line.
_RECORD_FIELDS: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    # uvicorn's copy of the message with terminal colours.
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # default=str: a field orjson cannot encode is written as its text rather than losing the line.
        return orjson.dumps(line, default=str).decode()
