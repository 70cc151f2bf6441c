"""Search's vocabulary."""

from __future__ import annotations

from enum import StrEnum

Q_MAX = 200
# Words of a query used at most: more only slow the match down and narrow it to nothing.
TERMS_MAX = 16


class SearchKind(StrEnum):
    message = "message"
    task = "task"
