"""The demo clinic's Spine MDT: one conference held two weeks ago (attendance, a decision that made a task,
one that made a referral, minutes, an item not reached) and the next one starting soon with an agenda, the
item not reached rolled over onto it; seeding again adds none."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from careteam import demo
from careteam.accounts.tables import User
from careteam.conferences import service as conferences
from careteam.conferences.tables import Conference
from careteam.core.actor import actor_of
from careteam.settings import Settings


async def test_the_demo_clinic_has_a_past_and_a_coming_conference(settings: Settings, db: Any) -> None:
    await demo.seed(settings, password="demo-password")
    async with db() as s:
        held_id, next_id = list(await s.exec(select(col(Conference.id)).order_by(col(Conference.id))))
        lead = actor_of((await s.exec(select(User).where(User.username == "lead"))).one())
        held = await conferences.summary(s, held_id or 0, actor=lead)
        coming = await conferences.get_conference(s, next_id or 0, actor=lead)
    assert held.conference.status == "ended"
    assert [i.status for i in held.items] == ["discussed", "discussed", "not-reached"]
    decisions = [d for i in held.items for d in i.decisions]
    assert [(d.kind, d.task_title, d.referral_discipline) for d in decisions] == [
        ("task", "RFA L4-L5 bilateral: book", None),
        ("referral", None, "psychologist"),
    ]
    assert all(i.minutes for i in held.items[:2])
    assert len(held.attendance) == 6 and all(a.item_ids for a in held.attendance)
    assert coming.status == "scheduled"
    assert [i.patient_name for i in coming.items] == ["Maria Alvarez", "Robert Chen", "Fatima Haddad"]
    assert coming.items[2].carried_from_id == held.items[2].id
    await demo.seed(settings, password="demo-password")
    async with db() as s:
        assert len(list(await s.exec(select(Conference)))) == 2
