"""Helpers for the messaging tests: a world (the referral tests' care team), posting, and what was stored."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from careteam.audit.tables import AuditEntry
from careteam.events import streams
from careteam.events.tables import StreamEvent
from careteam.messaging.tables import Message, MessageRevision
from careteam.notifications.tables import Notification
from tests.referrals.world import World, make_world, plan_events

__all__ = ["World", "make_world", "plan_events"]


async def post(client: Any, h: dict[str, str], path: str, body: str, **headers: str) -> Any:
    return await client.post(f"/api/v1{path}/messages", json={"body": body}, headers={**h, **headers})


async def make_task(client: Any, h: dict[str, str], w: World, **fields: Any) -> dict[str, Any]:
    payload = {"title": "UDS due", "discipline": "nurse", **fields}
    r = await client.post(f"/api/v1/plans/{w.plan_id}/tasks", json=payload, headers=h)
    assert r.status_code == 201, r.text
    task: dict[str, Any] = r.json()
    return task


async def notified(db: Any, user_id: int) -> list[Notification]:
    """Her notifications about messages (not, say, the task assigned to her), oldest first."""
    async with db() as s:
        query = (
            select(Notification)
            .where(Notification.user_id == user_id, col(Notification.kind).startswith("message."))
            .order_by(col(Notification.id))
        )
        return list(await s.exec(query))


async def user_event_kinds(db: Any, user_id: int) -> list[str]:
    async with db() as s:
        query = (
            select(StreamEvent.kind)
            .where(StreamEvent.stream_kind == streams.USER, StreamEvent.stream_id == user_id)
            .order_by(col(StreamEvent.seq))
        )
        return list(await s.exec(query))


async def messages(db: Any) -> list[Message]:
    async with db() as s:
        return list(await s.exec(select(Message).order_by(col(Message.id))))


async def revisions(db: Any, message_id: int) -> list[MessageRevision]:
    async with db() as s:
        query = select(MessageRevision).where(MessageRevision.message_id == message_id)
        return list(await s.exec(query.order_by(col(MessageRevision.version))))


async def audit_rows(db: Any, *, action: str, resource_type: str | None = None) -> list[AuditEntry]:
    async with db() as s:
        query = select(AuditEntry).where(AuditEntry.action == action)
        if resource_type is not None:
            query = query.where(AuditEntry.resource_type == resource_type)
        return list(await s.exec(query.order_by(col(AuditEntry.id))))


async def take_off_team(client: Any, h_lead: dict[str, str], w: World, who: str) -> None:
    team = (await client.get(f"/api/v1/patients/{w.patient_id}/care-team", headers=h_lead)).json()
    member = next(m for m in team["members"] if m["user_id"] == w.id(who))
    r = await client.delete(
        f"/api/v1/patients/{w.patient_id}/care-team/members/{member['id']}",
        headers={**h_lead, "If-Match": f'W/"{team["version"]}"'},
    )
    assert r.status_code == 200, r.text
