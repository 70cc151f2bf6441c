"""The demo clinic has two conversations: one about Ellen Marsh between her nurse and physician, one between
therapists; seeding again adds none."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from careteam import demo
from careteam.conversations.tables import Conversation, ConversationMember, ConversationMessage
from careteam.settings import Settings


async def test_the_demo_clinic_has_conversations(settings: Settings, db: Any) -> None:
    await demo.seed(settings, password="demo-password")
    async with db() as s:
        conversations = list(await s.exec(select(Conversation).order_by(col(Conversation.id))))
        messages = list(await s.exec(select(ConversationMessage)))
        members = list(await s.exec(select(ConversationMember)))
    assert [c.subject for c in conversations] == ["UDS result before the refill", "Pacing group next month"]
    assert conversations[0].patient_id is not None and conversations[1].patient_id is None
    assert len(messages) == 6 and len(members) == 5
    assert all(
        c.last_message_id == max(m.id or 0 for m in messages if m.conversation_id == c.id)
        for c in conversations
    )
    await demo.seed(settings, password="demo-password")
    async with db() as s:
        assert len(list(await s.exec(select(Conversation)))) == 2
