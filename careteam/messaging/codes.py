"""Messaging's vocabulary: the events it puts on ``plan:<id>``, and what an @mention may name."""

from __future__ import annotations

import re
from enum import StrEnum

from careteam.core.vocab import Discipline

BODY_MAX = 10_000
# An urgent message names at most this many clinicians who must acknowledge it.
URGENT_MAX = 50


class MessageEvent(StrEnum):
    """The kinds of event a message puts on its plan's stream; data: the ``MessagePublic``."""

    created = "message.created"
    edited = "message.edited"
    deleted = "message.deleted"
    acknowledged = "message.acknowledged"


class AckMode(StrEnum):
    """For a discipline named on an urgent message: each of its care team members acknowledges, or any one."""

    each = "each"
    any = "any"


class ReadEvent(StrEnum):
    """Read positions moving. ``message.seen`` on ``plan:<id>``: ``{"user_id", "thread", "up_to"}`` (who
    read how far, for "seen by"). ``messages.read`` on the reader's own ``user:<id>``: her new position and
    counts (``ReadPublic``, or ``{"all": true, "total"}``), for her other tabs. ``messages.unread`` on each
    other care team member's ``user:<id>`` when a message is posted: ``{"plan_id", "task_id", "message_id",
    "thread"}``, no text, so her header's Messages badge moves on any page."""

    seen = "message.seen"
    read = "messages.read"
    unread = "messages.unread"


# ``@team`` reaches everyone on the plan's care team.
TEAM = "team"

# What a clinician types after @ to reach a discipline on the care team (lower case).
DISCIPLINE_ALIASES: dict[str, Discipline] = {
    "psychology": Discipline.psychologist,
    "psychologist": Discipline.psychologist,
    "nursing": Discipline.nurse,
    "nurse": Discipline.nurse,
    "pt": Discipline.physical_therapist,
    "physio": Discipline.physical_therapist,
    "ot": Discipline.occupational_therapist,
    "pharmacy": Discipline.pharmacist,
    "pharmacist": Discipline.pharmacist,
    "social": Discipline.social_worker,
    "physician": Discipline.physician,
    "lead": Discipline.ipm_lead,
}

# An @ that starts a word (not the middle of an e-mail address), then a username or an alias; a trailing
# dot or hyphen ends the sentence, not the name ("@team." reaches the team).
MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)")
