"""Brokers carry "stream S has events up to seq N" between processes; chosen by URL.

A broker is only a wake-up call: it may drop a notice without losing data, because the hub always reads
the events themselves from the database log.
"""

from __future__ import annotations

from careteam.realtime.broker.base import Broker, NoticeHandler
from careteam.realtime.broker.memory import MemoryBroker


def make_broker(url: str) -> Broker:
    """``memory://`` (one process), ``redis://`` / ``rediss://``, or ``postgresql://`` (LISTEN/NOTIFY)."""
    scheme = url.split(":", 1)[0]
    if scheme == "memory":
        return MemoryBroker()
    if scheme in ("redis", "rediss", "unix"):
        from careteam.realtime.broker.redis import RedisBroker

        return RedisBroker(url)
    if scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        from careteam.realtime.broker.postgres import PostgresBroker

        return PostgresBroker(url)
    raise ValueError(
        f"Unsupported CARETEAM_BROKER_URL scheme {scheme!r}: use memory://, redis:// or postgresql://"
    )


__all__ = ["Broker", "MemoryBroker", "NoticeHandler", "make_broker"]
