"""The demo clinic's conversations: one about a patient between her nurse and physician, one between
therapists about a group session (no patient). Created once; a clinic that has any conversation gets none."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.conversations import service as conversations
from careteam.conversations.schemas import ConversationCreate, ConversationMessageCreate
from careteam.conversations.tables import Conversation
from careteam.core.actor import Actor, actor_of
from careteam.db.engine import unit_of_work
from careteam.patients import service as patients

# (subject, patient's name or None, [(author, text)]); the first author starts it with every other author.
DEMO: list[tuple[str, str | None, list[tuple[str, str]]]] = [
    (
        "UDS result before the refill",
        "Ellen Marsh",
        [
            ("nurse", "UDS unexpected result: discuss before next prescription."),
            ("physician", "Thanks. Please hold the refill until we talk; I'll call her tomorrow morning."),
            ("nurse", "Will do. **PDMP check** done, no other prescribers."),
        ],
    ),
    (
        "Pacing group next month",
        None,
        [
            ("physio", "Could we run the pacing and activity diary session together next month?"),
            ("ot", "Yes, Tuesdays work for me. I'll bring the workstation handouts."),
            ("psychologist", "Count me in for the first half hour: sleep and flare-up plans."),
        ],
    ),
]


async def seed(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Create the demo conversations, in one unit of work, unless there are conversations already; how many
    it created."""
    async with unit_of_work(sessions) as session:
        if (await session.exec(select(col(Conversation.id)).limit(1))).first() is not None:
            return 0
        users = accounts.directory()
        ids = {name: int(uid) for uid, name in await session.exec(select(users.c.id, users.c.username))}
        names = patients.patient_names()
        patient_ids = {name: int(pid) for pid, name in await session.exec(select(names.c.id, names.c.name))}
        created = 0
        for subject, patient, lines in DEMO:
            actors = {who: await _actor(session, ids[who]) for who, _ in lines}
            starter, first = lines[0]
            body = ConversationCreate(
                participants=sorted({ids[who] for who, _ in lines} - {ids[starter]}),
                subject=subject,
                patient_id=patient_ids[patient] if patient else None,
                body=first,
            )
            started = await conversations.start_conversation(session, body, actor=actors[starter])
            for who, text in lines[1:]:
                reply = ConversationMessageCreate(body=text)
                await conversations.post_message(session, started.id, reply, actor=actors[who])
            created += 1
        return created


async def _actor(session: AsyncSession, user_id: int) -> Actor:
    user = await accounts.active_user(session, user_id)
    assert user is not None, "the demo's accounts are active"
    return actor_of(user)
