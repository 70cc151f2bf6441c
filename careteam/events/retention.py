"""How long each kind of stream keeps its events, and the scheduled job that prunes the rest.

A board's history is clinical context and stays long; an inbox is a working list and stays short. A reader
behind a pruned range is told ``resync`` (``log.resync_reason``) and reloads; it never sees a gap.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Final

from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.events import log as events
from careteam.events import streams
from careteam.jobs.registry import JobFunc
from careteam.settings import Settings

log = logging.getLogger(__name__)

PRUNE_JOB: Final = "events.prune"
PRUNE_EVERY: Final = timedelta(hours=1)


def retention(settings: Settings) -> dict[str, timedelta]:
    """Each stream kind's retention, from ``CARETEAM_RETENTION_<KIND>_DAYS``."""
    return {
        streams.PLAN: timedelta(days=settings.retention_plan_days),
        streams.USER: timedelta(days=settings.retention_user_days),
        streams.CONFERENCE: timedelta(days=settings.retention_conference_days),
        streams.CONVERSATION: timedelta(days=settings.retention_conversation_days),
    }


def pruner(settings: Settings) -> JobFunc:
    """The job: delete every stream's events older than its kind's retention (the heads stay)."""
    keep = retention(settings)

    async def prune_streams(session: AsyncSession, *, now: datetime) -> None:
        for kind, period in keep.items():
            pruned = await events.prune(session, kind, before=now - period)
            if pruned:
                log.info("pruned %d %s events older than %s days", pruned, kind, period.days)

    return prune_streams
