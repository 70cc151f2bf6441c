"""Conversations' vocabulary: the events on ``conversation:<id>`` and the hint on each ``user:<id>``."""

from __future__ import annotations

from enum import StrEnum

SUBJECT_MAX = 200
# A conversation is between a few clinicians, not a broadcast: the team thread of a plan is for that.
PARTICIPANTS_MAX = 20


class ConversationEvent(StrEnum):
    """The kinds of event on ``conversation:<id>``. ``conversation.message.*``: the
    ``ConversationMessagePublic``. ``conversation.read``: ``{"conversation_id", "user_id", "up_to"}``, who
    read how far ("seen by"); the same data goes on the reader's own ``user:<id>`` (her badge, her other
    tabs), or ``{"all": true}`` after "mark all read"."""

    created = "conversation.message.created"
    edited = "conversation.message.edited"
    deleted = "conversation.message.deleted"
    read = "conversation.read"


class ConversationHint(StrEnum):
    """On each other participant's ``user:<id>`` when a message arrives: ``{"conversation_id",
    "message_id"}``, no text, so that her header's Messages badge moves on any page."""

    unread = "conversation.unread"
