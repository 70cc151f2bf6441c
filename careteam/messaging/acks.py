"""Urgent messages: who must acknowledge one, who did, and who is still awaited.

A requirement names a clinician or a discipline of the care team (``AckMode``: each of its members, or any
one of them). It is resolved against the care team as it is now: someone taken off the team is no longer
awaited (she no longer sees the message), and never the message's author. ``waiting_for`` is the one rule
that the message's ``acknowledged``, the acknowledge endpoint and "My work" all follow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.core.errors import ValidationFailed
from careteam.core.vocab import Discipline
from careteam.messaging.codes import AckMode
from careteam.messaging.schemas import UrgentCreate
from careteam.messaging.tables import MessageAck, MessageAckRequired
from careteam.patients.access import Ids

Team = Mapping[int, Discipline]  # user id -> her discipline on the care team


@dataclass(frozen=True, slots=True)
class Urgency:
    """A message's requirements (as named) and its acknowledgements (user id -> when)."""

    users: tuple[int, ...]
    disciplines: tuple[Discipline, ...]
    any_of_discipline: bool
    acks: Mapping[int, datetime]

    def may_acknowledge(self, team: Team, *, author_id: int) -> set[int]:
        """Who is asked, directly or through her discipline (whether or not she or a colleague did)."""
        named = {u for u in self.users if u in team}
        named |= {u for u, d in team.items() if d in self.disciplines}
        named.discard(author_id)
        return named

    def waiting_for(self, team: Team, *, author_id: int) -> set[int]:
        """Who is asked and still awaited: not acknowledged, and for "any one of a discipline" none of its
        members did."""
        waiting = {u for u in self.users if u in team and u not in self.acks}
        for discipline in self.disciplines:
            members = {u for u, d in team.items() if d == discipline and u != author_id}
            if self.any_of_discipline:
                waiting |= set() if members & self.acks.keys() else members
            else:
                waiting |= members - self.acks.keys()
        waiting.discard(author_id)
        return waiting


def check(urgent: UrgentCreate, team: Team, *, author_id: int) -> None:
    """422 unless everyone named is on the care team (not the author) and each discipline has someone on it
    besides the author. A clinician off the team and an id of no one get the same answer."""
    for user_id in urgent.users:
        if user_id == author_id:
            raise ValidationFailed("You need not acknowledge your own message.", field="body.urgent.users")
        if user_id not in team:
            raise ValidationFailed(
                "Only members of the patient's care team can be asked to acknowledge.",
                field="body.urgent.users",
            )
    for discipline in urgent.disciplines:
        if not any(d == discipline and u != author_id for u, d in team.items()):
            raise ValidationFailed(
                f"No one else on the care team is in {discipline.value}.", field="body.urgent.disciplines"
            )


def rows(message_id: int, urgent: UrgentCreate) -> list[MessageAckRequired]:
    """The requirement rows of a new urgent message (duplicates named once)."""
    mode = AckMode.any if urgent.any_of_discipline else AckMode.each
    return [
        *(
            MessageAckRequired(message_id=message_id, user_id=u, mode=AckMode.each)
            for u in sorted(set(urgent.users))
        ),
        *(
            MessageAckRequired(message_id=message_id, discipline=d.value, mode=mode)
            for d in sorted(set(urgent.disciplines))
        ),
    ]


async def urgencies(session: AsyncSession, message_ids: Iterable[int]) -> dict[int, Urgency]:
    """The urgent ones among these messages, in two queries (one if none is urgent)."""
    ids = sorted(set(message_ids))
    if not ids:
        return {}
    needs = list(
        await session.exec(select(MessageAckRequired).where(col(MessageAckRequired.message_id).in_(ids)))
    )
    if not needs:
        return {}
    urgent_ids = sorted({n.message_id for n in needs})
    acks: dict[int, dict[int, datetime]] = {m: {} for m in urgent_ids}
    found = await session.exec(
        select(MessageAck).where(col(MessageAck.message_id).in_(urgent_ids)).order_by(col(MessageAck.at))
    )
    for ack in found:
        acks[ack.message_id][ack.user_id] = ack.at
    answer: dict[int, Urgency] = {}
    for message_id in urgent_ids:
        mine = [n for n in needs if n.message_id == message_id]
        answer[message_id] = Urgency(
            users=tuple(sorted(n.user_id for n in mine if n.user_id is not None)),
            disciplines=tuple(sorted(Discipline(n.discipline) for n in mine if n.discipline is not None)),
            any_of_discipline=any(n.mode == AckMode.any for n in mine),
            acks=acks[message_id],
        )
    return answer


def asked(user_id: int, disciplines: Iterable[str]) -> Ids:
    """Messages with a requirement that may concern her: naming her, or one of her disciplines (a select)."""
    return select(col(MessageAckRequired.message_id)).where(
        or_(
            col(MessageAckRequired.user_id) == user_id,
            col(MessageAckRequired.discipline).in_(sorted(set(disciplines))),
        )
    )


def acknowledged_by(user_id: int) -> Ids:
    """Messages she acknowledged (a select)."""
    return select(col(MessageAck.message_id)).where(col(MessageAck.user_id) == user_id)
