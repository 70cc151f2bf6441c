"""Referrals' clocks: a referral past its respond-by without an answer is escalated, once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.jobs.registry import JOBS
from careteam.referrals import service as referrals

ESCALATE_EVERY = timedelta(minutes=1)


@JOBS.job("referrals.escalate_overdue", every=ESCALATE_EVERY)
async def escalate_overdue(session: AsyncSession, *, now: datetime) -> None:
    """Overdue referrals reach their requester and the team's lead; their boards show it at once."""
    await referrals.escalate_overdue(session, now=now)
