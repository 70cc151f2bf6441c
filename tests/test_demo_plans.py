"""The demo clinic reads like a clinic: each patient's plan fits her condition (../shared/DOMAIN.md), with a
period and goals that have due dates, and one plan is a full working board (25 tasks or more)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlmodel import select

from careteam import demo
from careteam.patients.tables import Patient
from careteam.plans.tables import CarePlan, Goal, Task
from careteam.settings import Settings

# Words of procedures and pathways that belong to one condition only.
LUMBAR = ("L4-L5", "lumbar", "RFA after second block")


async def _plans(db: Any) -> dict[str, tuple[CarePlan, list[str], list[Goal]]]:
    async with db() as s:
        rows = (
            await s.exec(
                select(Patient.mrn, CarePlan).join(CarePlan, CarePlan.patient_id == Patient.id)  # type: ignore[arg-type]
            )
        ).all()
        tasks: dict[int, list[str]] = defaultdict(list)
        for task in await s.exec(select(Task)):
            tasks[task.plan_id].append(task.title)
        goals: dict[int, list[Goal]] = defaultdict(list)
        for goal in await s.exec(select(Goal)):
            goals[goal.plan_id].append(goal)
    return {mrn: (plan, tasks[plan.id or 0], goals[plan.id or 0]) for mrn, plan in rows}


async def test_each_demo_plan_fits_its_condition(settings: Settings, db: Any) -> None:
    await demo.seed(settings, password="demo-password")
    plans = await _plans(db)
    assert set(plans) == {p.mrn for p in demo.PATIENTS}
    ellen, robert, maria, james, fatima, peter = (plans[p.mrn] for p in demo.PATIENTS)

    # The lumbar facet patient's board is the clinic's fullest.
    assert len(ellen[1]) >= 25
    assert "Decide on RFA after second block" in ellen[1]
    # CRPS of the hand: the CRPS pathway, none of the lumbar one.
    assert "Complex regional pain syndrome" in maria[0].title
    assert {"Graded motor imagery, stage 1", "Mirror therapy", "Splint review"} <= set(maria[1])
    assert any("Stellate ganglion block" in t for t in maria[1])
    assert not [t for t in maria[1] if any(word in t for word in LUMBAR)]
    # Failed back surgery: the gates before the SCS trial.
    assert any("apixaban" in t for t in robert[1]) and "Pre-SCS psychological evaluation" in robert[1]
    # Fibromyalgia: no procedures at all.
    assert "ACT group, 8 weeks" in fatima[1]
    assert not [t for t in fatima[1] if any(w in t for w in ("block", "RFA", "ESI", "injection"))]
    assert not [t for t in james[1] + peter[1] if any(word in t for word in LUMBAR)]
    # No two patients share the same board.
    boards = [frozenset(titles) for _, titles, _ in plans.values()]
    assert len(set(boards)) == len(boards)
    # Every plan has a period and goals, each with a due date within it.
    for plan, _, goals in plans.values():
        assert plan.period_start is not None and plan.period_end is not None
        assert goals and all(g.due_date is not None for g in goals)
        assert all(plan.period_start <= (g.due_date or plan.period_start) for g in goals)
