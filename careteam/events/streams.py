"""Streams: every event belongs to one, each with its own gapless ``seq``.

A stream is named ``<kind>:<id>``: ``plan:42`` (a care plan's board), ``user:12`` (one clinician's inbox:
notifications, counts, her worklist), ``conference:7`` (a room), ``conversation:5`` (a direct
conversation). The key is what the websocket protocol, the broker's channels and the log speak; in the
tables it is two columns (``stream_kind``, ``stream_id``).

Who may read a stream is the business of the feature that owns its kind: it declares a :class:`Feed`
(the permission filter, what a subscriber gets first, the audit of that read), and the realtime hub asks
the feed, never the feature's tables.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from sqlalchemy.sql import CompoundSelect, Select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.core.actor import Actor

# Ids are 32-bit positive integers, as in the JSON API.
MAX_ID: Final = 2**31 - 1
PLAN: Final = "plan"
USER: Final = "user"
CONFERENCE: Final = "conference"
CONVERSATION: Final = "conversation"
_KEY = re.compile(r"([a-z]{1,16}):([1-9][0-9]{0,9})")


@dataclass(frozen=True, slots=True, order=True)
class Stream:
    kind: str
    id: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, key: str) -> Stream:
        """``plan:42`` -> Stream("plan", 42); ValueError for anything else (unknown kinds included)."""
        match = _KEY.fullmatch(key) if isinstance(key, str) else None
        if match is None or match[1] not in KINDS or not 1 <= int(match[2]) <= MAX_ID:
            kinds = ", ".join(sorted(KINDS))
            raise ValueError(f"a stream is one of {kinds}, then ':' and an id, e.g. plan:42")
        return cls(match[1], int(match[2]))


KINDS: Final = frozenset({PLAN, USER, CONFERENCE, CONVERSATION})


def plan(plan_id: int) -> Stream:
    return Stream(PLAN, plan_id)


def user(user_id: int) -> Stream:
    return Stream(USER, user_id)


def conversation(conversation_id: int) -> Stream:
    return Stream(CONVERSATION, conversation_id)


# A Core select of (stream id, user id) rows: a feed's readers of some of its streams (``Feed.readers``).
Readers = Select[*tuple[Any, ...]] | CompoundSelect[*tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Opened:
    """What a subscriber gets first: the stream's newest seq, and a snapshot of what it shows (or None)."""

    last_seq: int
    snapshot: dict[str, Any] | None = None


class Feed(Protocol):
    """A feature's streams of one kind, as the realtime hub needs them."""

    @property
    def kind(self) -> str: ...

    @property
    def missing(self) -> str:
        """The detail of ``not_found``: no such stream, or not one the actor may read."""
        ...

    @property
    def gone(self) -> str:
        """The detail of ``forbidden``: the actor could read the stream and no longer can."""
        ...

    async def open(
        self, session: AsyncSession, stream_id: int, *, snapshot: bool, audited: bool, actor: Actor
    ) -> Opened:
        """Check that ``actor`` may read the stream (else ``NotFound``, whatever the reason), audit the read
        unless ``audited`` is False (the hub audited this session's read of it within its window), and return
        its newest seq, with a snapshot when asked for one (if the kind has snapshots)."""
        ...

    async def exists(self, session: AsyncSession, stream_id: int) -> bool:
        """Whether the stream exists, whoever may read it: only to audit why a subscribe was refused (not
        found, or forbidden), never to answer the client, who gets ``not_found`` either way."""
        ...

    def readers(self, stream_ids: Sequence[int]) -> Readers:
        """(stream id, user id) of every user who may read one of these streams now, in one select (the hub's
        periodic re-check). One statement whatever the number of streams: an ``IN`` over them, not a
        statement (or subquery) per stream, which a process watching hundreds of streams would build every
        round."""
        ...
