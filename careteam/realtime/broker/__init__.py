"""Brokers carry "plan P has events up to seq S" between processes; chosen by URL.

A broker is only a wake-up call: it may drop a notice without losing data, because the hub always reads
the events themselves from the database log.
"""

from __future__ import annotations

from careteam.realtime.broker.base import Broker, NoticeHandler
from careteam.realtime.broker.memory import MemoryBroker


def make_broker(url: str) -> Broker:
    if url.startswith("memory://"):
        return MemoryBroker()
    raise ValueError(f"Unsupported CARETEAM_BROKER_URL scheme: {url.split(':', 1)[0]!r} (memory:// is built in)")


__all__ = ["Broker", "MemoryBroker", "NoticeHandler", "make_broker"]
