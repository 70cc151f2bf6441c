"""The demo clinic's outcome measures: months of scores per patient as DOMAIN.md tells them (Ellen Marsh's
PEG falling to the goal of 4, Fatima Haddad's flat at 7), recorded by the discipline that measures them;
seeding again adds none."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from careteam import demo
from careteam.accounts.tables import User
from careteam.outcomes.tables import Observation
from careteam.patients.tables import Patient
from careteam.settings import Settings


async def test_the_demo_clinic_has_months_of_scores(settings: Settings, db: Any) -> None:
    await demo.seed(settings, password="demo-password")
    async with db() as s:
        rows = list(
            await s.exec(select(Observation).order_by(col(Observation.effective_at), col(Observation.id)))
        )
        names = {p.id: p.name for p in await s.exec(select(Patient))}
        users = {u.id: u.username for u in await s.exec(select(User))}
    peg = {
        name: [r.value for r in rows if r.measure == "peg" and names[r.patient_id] == name]
        for name in ("Ellen Marsh", "Fatima Haddad")
    }
    assert peg["Ellen Marsh"][0] > 7 and peg["Ellen Marsh"][-1] == 4.0
    assert all(6.5 < v < 7.5 for v in peg["Fatima Haddad"])
    assert {users[r.author_id] for r in rows if r.measure in ("phq9", "gad7")} <= {"psychologist", "lead"}
    assert {r.status for r in rows} == {"final"} and len(rows) > 40
    await demo.seed(settings, password="demo-password")
    async with db() as s:
        assert len(list(await s.exec(select(Observation)))) == len(rows)
