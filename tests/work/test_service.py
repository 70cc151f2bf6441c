"""My work's list (careteam/work/service.py over careteam/plans/worklist.py): exactly the open tasks a plain
query over all of the nurse's teams' plans finds, in the promised order, grouped, filtered and paged."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlmodel import col, select

from careteam.accounts.tables import User
from careteam.audit.tables import AuditEntry
from careteam.core.actor import Actor, actor_of
from careteam.core.vocab import Discipline
from careteam.patients.codes import TeamRole
from careteam.patients.tables import CareTeam, CareTeamMember, Patient
from careteam.plans.tables import CarePlan, Task
from careteam.work import service as work
from careteam.work.schemas import WorkPublic
from tests.factories import make_patient, make_plan, make_user
from tests.work.world import TODAY, make_clinic

OPEN = {"draft", "requested", "received", "accepted", "ready", "in-progress", "on-hold"}
PRIORITY_ORDER = ["stat", "asap", "urgent", "routine"]


def bucket(due: date | None, today: date) -> str:
    if due is None:
        return "later"
    days = (due - today).days
    return "overdue" if days < 0 else "today" if days == 0 else "week" if days <= 7 else "later"


async def brute_force(db: Any, user_id: int, today: date = TODAY, **filters: Any) -> list[dict[str, Any]]:
    """Her work, the slow obvious way: every task of every plan of every patient whose team she is on."""
    async with db() as s:
        user = await s.get(User, user_id)
        assert user is not None
        teams = (await s.exec(select(CareTeamMember.team_id).where(CareTeamMember.user_id == user_id))).all()
        patient_ids = set(
            (await s.exec(select(CareTeam.patient_id).where(col(CareTeam.id).in_(teams)))).all()
        )
        names = {p.id: p.name for p in (await s.exec(select(Patient))).all()}
        plans = {p.id: p.patient_id for p in (await s.exec(select(CarePlan))).all()}
        tasks = (await s.exec(select(Task))).all()
    rows = []
    for t in tasks:
        patient_id = plans[t.plan_id]
        if patient_id not in patient_ids or t.status not in OPEN:
            continue
        if not (t.assignee_id == user_id or (t.assignee_id is None and t.discipline == user.discipline)):
            continue
        if filters.get("patient_id") not in (None, patient_id):
            continue
        if filters.get("discipline") not in (None, t.discipline):
            continue
        rows.append(
            {
                "kind": "task",
                "id": t.id,
                "plan_id": t.plan_id,
                "patient": {"id": patient_id, "name": names[patient_id]},
                "title": t.title,
                "discipline": t.discipline,
                "status": t.status,
                "priority": t.priority,
                "due_date": t.due_date.isoformat() if t.due_date else None,
                "assignee_id": t.assignee_id,
                "bucket": bucket(t.due_date, today),
                "link": f"/plans/{t.plan_id}#task-{t.id}",
            }
        )
    groups = ["overdue", "today", "week", "later"]
    rows.sort(
        key=lambda r: (
            groups.index(r["bucket"]),
            r["due_date"] is None,
            r["due_date"] or "",
            PRIORITY_ORDER.index(r["priority"]),
            r["id"],
        )
    )
    return rows


async def nurse_actor(db: Any, user_id: int) -> Actor:
    async with db() as s:
        user = await s.get(User, user_id)
        assert user is not None
        return actor_of(user)


async def every_page(db: Any, actor: Actor, **filters: Any) -> tuple[list[dict[str, Any]], list[WorkPublic]]:
    pages: list[WorkPublic] = []
    while True:
        async with db() as s:
            page = await work.list_work(
                s, actor=actor, today=TODAY, offset=50 * len(pages), limit=50, **filters
            )
        pages.append(page)
        if page.offset + page.limit >= page.total:
            return [item for p in pages for item in p.model_dump(mode="json")["items"]], pages


def counts_of(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {g: sum(1 for r in rows if r["bucket"] == g) for g in ("overdue", "today", "week", "later")}


async def test_the_nurse_sees_exactly_what_a_query_over_all_her_teams_plans_finds(db: Any) -> None:
    clinic = await make_clinic(db)
    actor = await nurse_actor(db, clinic.nurse_id)
    expected = await brute_force(db, clinic.nurse_id)
    assert len(expected) > 100  # several pages, every group filled
    assert all(counts_of(expected).values())

    listed, pages = await every_page(db, actor)

    assert listed == expected
    assert len(pages) == -(-len(expected) // 50) and all(len(p.items) == 50 for p in pages[:-1])
    for page in pages:  # the counts are over the whole list, whichever page
        assert page.total == len(expected)
        assert page.counts.model_dump() == counts_of(expected)
    # Never a patient she is not on, never a closed or done task, never another lane's unassigned task.
    assert clinic.other_patient_id not in {r["patient"]["id"] for r in listed}
    assert {r["status"] for r in listed} <= OPEN
    assert all(r["assignee_id"] == clinic.nurse_id or r["discipline"] == "nurse" for r in listed)
    assert any(r["discipline"] != "nurse" for r in listed)  # hers in another lane are listed


async def test_groups_by_due_date_with_a_fixed_today(db: Any) -> None:
    async with db() as s:
        nurse = await make_user(s, discipline=Discipline.nurse)
        patient = await make_patient(s, members=[(nurse, TeamRole.member)])
        plan = await make_plan(s, patient)
        due = {
            "no date": None,
            "yesterday": TODAY - timedelta(days=1),
            "a month ago": TODAY - timedelta(days=30),
            "today": TODAY,
            "tomorrow": TODAY + timedelta(days=1),
            "in 7 days": TODAY + timedelta(days=7),
            "in 8 days": TODAY + timedelta(days=8),
        }
        for title, when in due.items():
            s.add(Task(plan_id=plan.id or 0, title=title, discipline="nurse", due_date=when))
        s.add(
            Task(
                plan_id=plan.id or 0, title="today, STAT", discipline="nurse", due_date=TODAY, priority="stat"
            )
        )
    actor = await nurse_actor(db, nurse.id or 0)
    async with db() as s:
        page = await work.list_work(s, actor=actor, today=TODAY)
    assert [(i.title, i.bucket.value) for i in page.items] == [
        ("a month ago", "overdue"),
        ("yesterday", "overdue"),
        ("today, STAT", "today"),
        ("today", "today"),
        ("tomorrow", "week"),
        ("in 7 days", "week"),
        ("in 8 days", "later"),
        ("no date", "later"),
    ]
    assert page.counts.model_dump() == {"overdue": 2, "today": 2, "week": 2, "later": 2}
    # The same tasks a day later: today's are overdue now.
    async with db() as s:
        later = await work.list_work(s, actor=actor, today=TODAY + timedelta(days=1))
    assert later.counts.model_dump() == {"overdue": 4, "today": 1, "week": 2, "later": 1}


async def test_filters_by_patient_and_by_lane(db: Any) -> None:
    clinic = await make_clinic(db)
    actor = await nurse_actor(db, clinic.nurse_id)
    for filters in (
        {"patient_id": clinic.patient_ids[1]},
        {"discipline": Discipline.physical_therapist},
        {"patient_id": clinic.patient_ids[0], "discipline": Discipline.nurse},
    ):
        expected = await brute_force(
            db, clinic.nurse_id, **{k: str(v) if k == "discipline" else v for k, v in filters.items()}
        )
        listed, pages = await every_page(db, actor, **filters)
        assert expected and listed == expected, filters
        assert pages[0].counts.model_dump() == counts_of(expected)
    # A patient she is not on: nothing, not an error (the filter only narrows her own list).
    listed, pages = await every_page(db, actor, patient_id=clinic.other_patient_id)
    assert listed == [] and pages[0].total == 0


async def test_each_patient_shown_is_one_audited_read(db: Any) -> None:
    clinic = await make_clinic(db)
    actor = await nurse_actor(db, clinic.nurse_id)
    async with db() as s:
        page = await work.list_work(s, actor=actor, today=TODAY, limit=5)
    shown = {i.patient.id for i in page.items}
    async with db() as s:
        reads = (
            await s.exec(
                select(AuditEntry).where(AuditEntry.user_id == clinic.nurse_id, AuditEntry.action == "read")
            )
        ).all()
    assert sorted(e.patient_id for e in reads) == sorted(shown)
    assert {e.resource_type for e in reads} == {"patient"}


async def test_header_counts_are_her_overdue_and_due_today(db: Any) -> None:
    clinic = await make_clinic(db)
    actor = await nurse_actor(db, clinic.nurse_id)
    expected = counts_of(await brute_force(db, clinic.nurse_id))
    async with db() as s:
        counts = await work.header_counts(s, actor, today=TODAY)
    assert counts == {"overdue": expected["overdue"], "today": expected["today"]}


async def test_other_sources_merge_into_one_order_and_one_count(db: Any) -> None:
    """A second kind of item (referrals, later) interleaves by the shared order; pages, counts stay exact."""
    from careteam.plans.worklist import Due, WorkRow, WorkSlice, sort_key

    clinic = await make_clinic(db, patients=1, tasks_per_plan=40)
    actor = await nurse_actor(db, clinic.nurse_id)
    extra = [
        WorkRow(
            kind="referral",
            id=n,
            plan_id=clinic.plan_ids[0],
            patient_id=clinic.patient_ids[0],
            patient_name="Patient 000 of the nurse",
            title=f"Referral {n}",
            discipline=Discipline.nurse,
            status="active",
            priority="urgent",
            due_date=TODAY + timedelta(days=n - 3),
            assignee_id=None,
            due=Due.overdue if n < 3 else Due.today if n == 3 else Due.week,
            link=f"/referrals/{n}",
        )
        for n in range(1, 7)
    ]

    async def referrals(_session: Any, *, offset: int, limit: int, **_: Any) -> WorkSlice:
        rows = sorted(extra, key=sort_key)
        counts = {d: sum(1 for r in rows if r.due is d) for d in Due}
        return WorkSlice(rows=rows[offset : offset + limit], counts=counts)

    sources = (*work.SOURCES, referrals)
    async with db() as s:
        tasks_only = await work.list_work(s, actor=actor, today=TODAY, limit=50)
    merged_pages = []
    for offset in (0, 10, 20):
        async with db() as s:
            merged_pages.append(
                await work.list_work(s, actor=actor, today=TODAY, offset=offset, limit=10, sources=sources)
            )
    assert merged_pages[0].total == tasks_only.total + 6
    keys = [(i.kind, i.id) for page in merged_pages for i in page.items]
    everything = sorted(
        [("task", i) for i in tasks_only.items] + [("referral", r) for r in extra],
        key=lambda pair: (
            ["overdue", "today", "week", "later"].index(pair[1].bucket if pair[0] == "task" else pair[1].due),
            pair[1].due_date is None,
            pair[1].due_date or date.min,
            PRIORITY_ORDER.index(pair[1].priority),
            pair[0],
            pair[1].id,
        ),
    )
    assert keys == [(kind, item.id) for kind, item in everything][:30]
    assert "referral" in {k for k, _ in keys}


async def test_the_demo_nurse_sees_exactly_her_teams_open_tasks(db: Any, settings: Any) -> None:
    """The demo clinic (careteam demo), as the done-when of issue #11 says: Grace Mbeki, RN."""
    from careteam import demo

    await demo.seed(settings)
    async with db() as s:
        nurse = (await s.exec(select(User).where(User.username == "nurse"))).one()
    actor = actor_of(nurse)
    today = date.today()
    expected = await brute_force(db, nurse.id or 0, today)
    assert expected, "the demo nurse has open work"
    async with db() as s:
        page = await work.list_work(s, actor=actor, today=today)
    assert page.total == len(expected) <= 50
    assert page.model_dump(mode="json")["items"] == expected
    assert page.counts.model_dump() == counts_of(expected)
