"""Every table of every feature, so ``SQLModel.metadata`` is whole: for Alembic, the tests and the CLI.

A feature's tables live in its own ``tables.py``; a new feature adds its line here.
"""

from careteam.accounts import tables as accounts
from careteam.audit import tables as audit
from careteam.conferences import tables as conferences
from careteam.conversations import tables as conversations
from careteam.events import tables as events
from careteam.jobs import tables as jobs
from careteam.medications import tables as medications
from careteam.messaging import tables as messaging
from careteam.notifications import tables as notifications
from careteam.outcomes import tables as outcomes
from careteam.patients import tables as patients
from careteam.plans import tables as plans
from careteam.protocols import tables as protocols
from careteam.referrals import tables as referrals
from careteam.search import tables as search
from careteam.web import tables as web

__all__ = [
    "accounts",
    "audit",
    "conferences",
    "conversations",
    "events",
    "jobs",
    "medications",
    "messaging",
    "notifications",
    "outcomes",
    "patients",
    "plans",
    "protocols",
    "referrals",
    "search",
    "web",
]
