"""Medications' clock: the recurring opioid-safety tasks (PDMP check, urine drug screen, agreement renewal,
naloxone offer, 3-monthly reassessment), each put once per period on every plan with an active opioid."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.jobs.registry import JOBS
from careteam.medications import service as medications

# Hourly: a new opioid or a new period gets its tasks within the hour; a run with nothing due costs one
# query per plan on opioids.
SAFETY_TASKS_EVERY = timedelta(hours=1)


@JOBS.job("medications.safety_tasks", every=SAFETY_TASKS_EVERY)
async def safety_tasks(session: AsyncSession, *, now: datetime) -> None:
    """Plans on opioids get this period's safety tasks in the right lanes; their boards show them at once."""
    await medications.make_safety_tasks(session, now=now)
