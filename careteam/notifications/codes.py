"""Notifications' vocabulary: what a notification is about, and the kinds of event on a user's stream."""

from __future__ import annotations

from enum import StrEnum


class NotificationKind(StrEnum):
    referral_new = "referral.new"
    referral_claimed = "referral.claimed"
    referral_accepted = "referral.accepted"
    referral_declined = "referral.declined"
    referral_completed = "referral.completed"
    referral_revoked = "referral.revoked"
    referral_overdue = "referral.overdue"
    task_assigned = "task.assigned"
    message_mention = "message.mention"
    message_reply = "message.reply"
    message_urgent = "message.urgent"
    conference_invited = "conference.invited"


class InboxEvent(StrEnum):
    """The kinds of event on a clinician's stream ``user:<id>``."""

    notification_created = "notification.created"  # data: NotificationPublic and "unread"
    notification_read = "notification.read"  # data: {"ids": [...]} or {"all": true}, and "unread"
    work_changed = "work.changed"  # data: {"plan_id", "reason"}: an open "My work" page refreshes
