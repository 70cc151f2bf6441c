"""The demo clinic's outcome measures: months of scores per patient as DOMAIN.md tells them (Ellen Marsh's
PEG falling to the goal of 4, Fatima Haddad's flat at 7), recorded by the discipline that measures them;
seeding again adds none."""

from __future__ import annotations

from datetime import date
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


async def test_every_demo_plan_has_a_trend_and_goals_show_their_status(settings: Settings, db: Any) -> None:
    """Each demo plan keeps at least three dated PEG or NRS scores; goals whose target reads "PEG <= 4"
    are judged by the measure, so their status shows; two diagnostic blocks have their responses."""
    from careteam.outcomes import responses
    from careteam.outcomes.service import goal_progress
    from careteam.outcomes.tables import ProcedureResponse
    from careteam.plans import service as plans
    from careteam.plans.tables import CarePlan

    await demo.seed(settings, password="demo-password")
    async with db() as s:
        plan_rows = list(await s.exec(select(CarePlan)))
        rows = list(
            await s.exec(select(Observation).order_by(col(Observation.effective_at), col(Observation.id)))
        )
        statuses = {}
        for plan in plan_rows:
            mine = [r for r in rows if r.plan_id == plan.id]
            trend = [r for r in mine if r.measure in ("peg", "nrs")]
            assert len(trend) >= 3 and len({r.effective_at for r in trend}) >= 3, plan.title
            for p in goal_progress(await plans.plan_goals(s, plan.id or 0), mine, today=date.today()):
                statuses[p.description] = p.status.value
        blocks = list(await s.exec(select(ProcedureResponse)))
    assert statuses == {
        "PEG from 7 to 4 or less in 12 weeks": "achieved",
        "NRS leg pain 4 or less": "improving",
        "PEG from 8 to 5 in 12 weeks": "improving",
    }
    assert sorted(
        (b.relief_percent, responses.result(b.relief_percent, b.threshold).value) for b in blocks
    ) == [(80, "positive"), (85, "positive")]
