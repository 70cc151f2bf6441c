"""A demo clinic: accounts of every discipline, patients whose care teams differ, and working boards.

Idempotent: running it again adds only what is missing (matched by username and MRN).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.accounts.schemas import UserCreate
from careteam.accounts.tables import User
from careteam.conferences import demo as conferences_demo
from careteam.conversations import demo as conversations_demo
from careteam.core.actor import actor_of
from careteam.core.vocab import ClinicRole, Comparator, Discipline, Measure
from careteam.db.engine import make_engine, make_sessionmaker, unit_of_work
from careteam.db.types import utcnow
from careteam.medications import demo as medications_demo
from careteam.messaging import reads
from careteam.messaging import service as messaging
from careteam.messaging.schemas import MessageCreate, MessageUpdate, UrgentCreate
from careteam.messaging.tables import Message
from careteam.outcomes import demo as outcomes_demo
from careteam.patients import service as patients
from careteam.patients.codes import TeamRole
from careteam.patients.schemas import MemberCreate, PatientCreate
from careteam.patients.tables import Patient
from careteam.plans import service as plans
from careteam.plans import tasks
from careteam.plans.codes import TaskPriority, TaskStatus
from careteam.plans.schemas import (
    ChecklistItem,
    GoalCreate,
    MeasureTarget,
    PlanCreate,
    TaskCreate,
    TaskUpdate,
)
from careteam.plans.tables import CarePlan, Task
from careteam.protocols import demo as protocols_demo
from careteam.referrals import service as referrals
from careteam.referrals.codes import ReferralPriority, ReferralStatus
from careteam.referrals.schemas import Complete, Decline, ReferralCreate, ReferralUpdate, Revoke
from careteam.referrals.tables import Referral
from careteam.settings import Settings

D = Discipline

ACCOUNTS: list[tuple[str, str, Discipline, ClinicRole]] = [
    ("admin", "Clinic Administrator", D.ipm_lead, ClinicRole.admin),
    ("lead", "Dr. Maya Okafor", D.ipm_lead, ClinicRole.clinician),
    ("physician", "Dr. Daniel Reyes", D.physician, ClinicRole.clinician),
    ("psychologist", "Dr. Hannah Lindqvist", D.psychologist, ClinicRole.clinician),
    # On no care team: the psychology pool's referrals show her the minimal card only.
    ("psychologist2", "Dr. Samuel Osei", D.psychologist, ClinicRole.clinician),
    ("nurse", "Grace Mbeki, RN", D.nurse, ClinicRole.clinician),
    ("physio", "Tom Becker, PT", D.physical_therapist, ClinicRole.clinician),
    ("ot", "Aisha Rahman, OT", D.occupational_therapist, ClinicRole.clinician),
    ("pharmacist", "Priya Nair, PharmD", D.pharmacist, ClinicRole.clinician),
    ("socialworker", "Luis Ortega, MSW", D.social_worker, ClinicRole.clinician),
]
ACCOUNT_SUMMARY = [(u, n, d.value + (" (admin)" if r is ClinicRole.admin else "")) for u, n, d, r in ACCOUNTS]


# A demo task: (title, lane, status, priority, due in days from today (None: no date), assignee username or
# None). The lane's clinician must be on the patient's team (the lead's lane always is).
DemoTask = tuple[str, Discipline, TaskStatus, TaskPriority, int | None, str | None]
S, P = TaskStatus, TaskPriority


@dataclass(frozen=True)
class DemoPatient:
    """A patient of the demo and her plan, which fits her condition (../shared/DOMAIN.md): goals as
    (description, target, due in days from today), tasks as ``DemoTask``."""

    mrn: str
    name: str
    birth_date: date
    team: tuple[str, ...]  # usernames besides the lead
    plan: str
    goals: tuple[tuple[str, str, int], ...]
    tasks: tuple[DemoTask, ...]


MBB = "Medial branch block L4-L5 (diagnostic): schedule"

# Every plan ends with the lead's tasks: the team's goals are reviewed with the patient and at conference.
LEAD_TASKS: tuple[DemoTask, ...] = (
    ("Update goals with the patient", D.ipm_lead, S.requested, P.routine, 14, "lead"),
    ("Case conference: review progress against goals", D.ipm_lead, S.requested, P.routine, 3, "lead"),
)

PATIENTS = [
    # Chronic low back pain on long-term opioids: the clinic's fullest board (25 tasks and more).
    DemoPatient(
        "IPM-100231",
        "Ellen Marsh",
        date(1968, 4, 12),
        ("physician", "psychologist", "nurse", "physio", "ot"),
        "Chronic low back pain: lumbar facet arthropathy",
        (
            ("PEG from 7 to 4 or less in 12 weeks", "PEG <= 4", 77),
            ("Walk 30 minutes daily", "30 min/day, 5 days a week", 42),
            ("Taper to under 50 MME/day", "MME < 50", 90),
            ("Return to part-time work", "20 h/week", 120),
        ),
        (
            ("Review lumbar MRI", D.physician, S.completed, P.routine, -20, "physician"),
            (MBB, D.physician, S.in_progress, P.urgent, 5, "physician"),
            (
                "Second diagnostic block: schedule if the first is positive",
                D.physician,
                S.requested,
                P.routine,
                21,
                None,
            ),
            ("Decide on RFA after second block", D.physician, S.requested, P.routine, 30, None),
            ("Monthly medication review", D.physician, S.ready, P.routine, -3, "physician"),
            ("Opioid reassessment (3-monthly)", D.physician, S.requested, P.routine, 25, "physician"),
            (
                "Intake assessment, PHQ-9 and GAD-7",
                D.psychologist,
                S.completed,
                P.routine,
                -14,
                "psychologist",
            ),
            ("CBT for pain, session 3 of 8", D.psychologist, S.in_progress, P.routine, 2, "psychologist"),
            ("Sleep diary review", D.psychologist, S.ready, P.routine, -1, None),
            ("PHQ-9 repeat at 6 weeks", D.psychologist, S.requested, P.routine, 28, "psychologist"),
            ("Opioid agreement renewal", D.nurse, S.ready, P.urgent, -5, "nurse"),
            ("UDS due", D.nurse, S.requested, P.routine, 7, "nurse"),
            ("PDMP check", D.nurse, S.completed, P.routine, -7, "nurse"),
            ("Follow-up call after block", D.nurse, S.on_hold, P.routine, 9, None),
            ("Education: flare-up plan", D.nurse, S.requested, P.routine, 11, "nurse"),
            ("Naloxone offered and documented", D.nurse, S.completed, P.routine, -6, "nurse"),
            ("Initial evaluation and ODI", D.physical_therapist, S.completed, P.routine, -21, "physio"),
            (
                "Core stabilisation programme, 2x weekly",
                D.physical_therapist,
                S.in_progress,
                P.routine,
                40,
                "physio",
            ),
            ("Graded walking plan", D.physical_therapist, S.requested, P.routine, -2, None),
            ("Home exercise programme review", D.physical_therapist, S.ready, P.routine, 10, "physio"),
            ("ODI repeat at 6 weeks", D.physical_therapist, S.requested, P.routine, 27, "physio"),
            ("Workstation assessment", D.occupational_therapist, S.requested, P.routine, 12, "ot"),
            ("Pacing and activity diary", D.occupational_therapist, S.in_progress, P.routine, 6, "ot"),
            ("Return-to-work graded schedule", D.occupational_therapist, S.requested, P.routine, 35, None),
            ("Assign referrals after intake", D.ipm_lead, S.completed, P.routine, -10, "lead"),
            ("Review referral clocks before conference", D.ipm_lead, S.ready, P.urgent, 1, "lead"),
            *LEAD_TASKS,
        ),
    ),
    # Failed back surgery syndrome: the gates before a spinal cord stimulator trial.
    DemoPatient(
        "IPM-100232",
        "Robert Chen",
        date(1975, 9, 3),
        ("physician", "psychologist", "nurse", "pharmacist"),
        "Persistent radicular pain after laminectomy: SCS trial work-up",
        (
            ("Psychological clearance for SCS trial", "Cleared before the trial", 19),
            ("NRS leg pain 4 or less", "NRS <= 4", 90),
        ),
        (
            ("Review thoracic spine MRI", D.physician, S.completed, P.routine, -8, "physician"),
            (
                "Anticoagulation plan: hold apixaban 3 days, no bridging",
                D.physician,
                S.in_progress,
                P.urgent,
                4,
                "physician",
            ),
            ("Infection screen before SCS trial", D.physician, S.ready, P.routine, 10, "physician"),
            ("SCS trial: schedule once the gates are met", D.physician, S.requested, P.routine, 30, None),
            (
                "Pre-SCS psychological evaluation",
                D.psychologist,
                S.in_progress,
                P.routine,
                12,
                "psychologist",
            ),
            ("PHQ-9 and GAD-7 before the trial", D.psychologist, S.completed, P.routine, -5, "psychologist"),
            ("Trial education and dressing plan", D.nurse, S.requested, P.routine, 20, "nurse"),
            ("UDS due", D.nurse, S.requested, P.routine, 6, "nurse"),
            ("PDMP check", D.nurse, S.completed, P.routine, -4, "nurse"),
            ("Medication review: opioid taper plan", D.pharmacist, S.in_progress, P.urgent, 4, "pharmacist"),
            ("Naloxone offered and documented", D.pharmacist, S.requested, P.routine, -4, None),
            *LEAD_TASKS,
        ),
    ),
    # CRPS of the right hand after a wrist fracture: a CRPS pathway, no lumbar procedures.
    DemoPatient(
        "IPM-100233",
        "Maria Alvarez",
        date(1982, 1, 27),
        ("physician", "nurse", "physio", "ot"),
        "Complex regional pain syndrome, right hand",
        (
            ("Regain grip for daily tasks", "Grip strength +30%", 70),
            ("Sleep 6 hours most nights", "6 h on 5 of 7 nights", 42),
            ("Touch the dorsum of the hand without allodynia", "Tolerates light touch", 56),
        ),
        (
            ("Stellate ganglion block 1 of 3", D.physician, S.completed, P.routine, -12, "physician"),
            (
                "Stellate ganglion block series (3): schedule blocks 2 and 3",
                D.physician,
                S.in_progress,
                P.urgent,
                5,
                "physician",
            ),
            ("Consider SCS trial if blocks fail", D.physician, S.requested, P.routine, 45, None),
            ("Neuropathic medication review", D.physician, S.ready, P.routine, 8, "physician"),
            ("Graded motor imagery, stage 1", D.occupational_therapist, S.in_progress, P.routine, 7, "ot"),
            ("Graded motor imagery, stage 2", D.occupational_therapist, S.requested, P.routine, 21, None),
            ("Desensitisation programme", D.occupational_therapist, S.in_progress, P.routine, 14, "ot"),
            ("Splint review", D.occupational_therapist, S.requested, P.routine, -1, "ot"),
            ("Pacing and activity diary", D.occupational_therapist, S.in_progress, P.routine, 6, "ot"),
            ("Mirror therapy", D.physical_therapist, S.in_progress, P.routine, 10, "physio"),
            ("Edema control", D.physical_therapist, S.ready, P.routine, 3, "physio"),
            ("Education: CRPS flare-up plan", D.nurse, S.requested, P.routine, 9, "nurse"),
            ("Follow-up call after stellate ganglion block", D.nurse, S.completed, P.routine, -11, "nurse"),
            *LEAD_TASKS,
        ),
    ),
    # Cervical facet pain: two diagnostic medial branch blocks, then the RFA decision.
    DemoPatient(
        "IPM-100234",
        "James O'Neill",
        date(1959, 11, 8),
        ("physician", "physio"),
        "Cervical facet pain: diagnostic blocks then RFA",
        (
            ("Decide on RFA after two positive blocks", "Decision at conference", 45),
            ("Turn the head to reverse the car", "Full rotation both sides", 90),
        ),
        (
            (
                "Medial branch block C3-C4 (first diagnostic)",
                D.physician,
                S.completed,
                P.routine,
                -2,
                "physician",
            ),
            (
                "Medial branch block C3-C4 (second diagnostic): schedule",
                D.physician,
                S.in_progress,
                P.urgent,
                12,
                "physician",
            ),
            ("Decide on RFA after two positive blocks", D.physician, S.requested, P.routine, 30, None),
            ("Pain diary review after block", D.physician, S.ready, P.routine, 1, "physician"),
            ("Initial evaluation and NDI", D.physical_therapist, S.completed, P.routine, -15, "physio"),
            (
                "Neck strengthening: hold 48 h after each block",
                D.physical_therapist,
                S.on_hold,
                P.routine,
                4,
                "physio",
            ),
            (
                "Posture and cervical mobility programme",
                D.physical_therapist,
                S.in_progress,
                P.routine,
                20,
                "physio",
            ),
            *LEAD_TASKS,
        ),
    ),
    # Fibromyalgia: no procedures; self-management, sleep and activity.
    DemoPatient(
        "IPM-100235",
        "Fatima Haddad",
        date(1990, 6, 19),
        ("psychologist", "nurse", "socialworker"),
        "Fibromyalgia: self-management and return to activity",
        (
            ("FIQR down by 14 points", "FIQR <= 50", 84),
            ("PEG from 8 to 5 in 12 weeks", "PEG <= 5", 84),
            ("Transport arranged for sessions", "In place for every session", 14),
        ),
        (
            ("FIQR baseline", D.psychologist, S.completed, P.routine, -9, "psychologist"),
            ("ACT group, 8 weeks", D.psychologist, S.in_progress, P.routine, 56, "psychologist"),
            ("Sleep hygiene", D.psychologist, S.ready, P.routine, 5, "psychologist"),
            ("Education: fibromyalgia and pacing", D.nurse, S.completed, P.routine, -6, "nurse"),
            ("Follow-up call: duloxetine side effects", D.nurse, S.requested, P.routine, 2, "nurse"),
            ("Benefits and transport assessment", D.social_worker, S.ready, P.routine, 8, "socialworker"),
            (
                "Transport to PT sessions arranged",
                D.social_worker,
                S.in_progress,
                P.routine,
                3,
                "socialworker",
            ),
            ("Caregiver support referral", D.social_worker, S.requested, P.routine, 15, None),
            *LEAD_TASKS,
        ),
    ),
    # Knee osteoarthritis: genicular nerve RFA done, rehabilitation now.
    DemoPatient(
        "IPM-100236",
        "Peter Novak",
        date(1951, 3, 30),
        ("physician", "physio", "ot", "pharmacist"),
        "Knee osteoarthritis: genicular nerve RFA and rehabilitation",
        (
            ("Walk to the shops without a stick", "500 m unaided", 90),
            ("Climb the stairs at home", "One flight, one rail", 60),
        ),
        (
            ("Genicular nerve block (diagnostic)", D.physician, S.completed, P.routine, -30, "physician"),
            ("Genicular nerve RFA, right knee", D.physician, S.completed, P.routine, -2, "physician"),
            ("Follow-up after RFA at 6 weeks", D.physician, S.requested, P.routine, 40, None),
            ("Home exercise programme review", D.physical_therapist, S.in_progress, P.routine, 5, "physio"),
            ("Quadriceps strengthening, 2x weekly", D.physical_therapist, S.requested, P.routine, 14, None),
            ("Gait assessment", D.physical_therapist, S.ready, P.routine, 7, "physio"),
            (
                "Home assessment: stair rail and bathroom",
                D.occupational_therapist,
                S.requested,
                P.routine,
                10,
                "ot",
            ),
            ("Review NSAID use and kidney function", D.pharmacist, S.ready, P.routine, -1, "pharmacist"),
            *LEAD_TASKS,
        ),
    ),
]

# How to walk a fresh (requested) task to each demo status along legal FHIR transitions.
_PATH: dict[TaskStatus, list[TaskStatus]] = {
    TaskStatus.requested: [],
    TaskStatus.ready: [TaskStatus.ready],
    TaskStatus.in_progress: [TaskStatus.in_progress],
    TaskStatus.on_hold: [TaskStatus.in_progress, TaskStatus.on_hold],
    TaskStatus.completed: [TaskStatus.in_progress, TaskStatus.completed],
}


async def seed(settings: Settings, *, password: str = "demo") -> int:  # noqa: S107 - the demo's password
    """Create what is missing of the demo clinic; returns how many users, patients and plans it added."""
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    created = 0
    try:
        async with unit_of_work(sessions) as session:
            created += await _add_missing_accounts(session, password)
        async with unit_of_work(sessions) as session:
            users = {u.username: u for u in await session.exec(select(User))}
            for demo_patient in PATIENTS:
                if (await session.exec(select(Patient).where(Patient.mrn == demo_patient.mrn))).first():
                    continue
                await _patient(session, demo_patient, users)
                created += 2
        async with unit_of_work(sessions) as session:
            if (await session.exec(select(Referral.id))).first() is None:
                created += await _referrals(session, settings, utcnow())
        async with unit_of_work(sessions) as session:
            if (await session.exec(select(Message.id))).first() is None:
                created += await _demo_messages(session, utcnow())
        created += await conversations_demo.seed(sessions)
        created += await conferences_demo.seed(sessions)
        created += await outcomes_demo.seed(sessions, threshold=settings.block_relief_threshold)
        created += await medications_demo.seed(sessions)
        created += await protocols_demo.seed(sessions)
    finally:
        await engine.dispose()
    return created


async def _add_missing_accounts(session: AsyncSession, password: str) -> int:
    """Create the demo accounts that do not exist yet; returns how many it created."""
    existing = set((await session.exec(select(User.username))).all())
    missing = [account for account in ACCOUNTS if account[0] not in existing]
    for username, display, discipline, role in missing:
        # Seeded past the password rules: the demo's password ("demo") is shorter and easier to guess than
        # anyone may choose (model_construct skips the length, seeded the strength check).
        body = UserCreate.model_construct(
            username=username, display_name=display, discipline=discipline, role=role, password=password
        )
        await accounts.create_user(session, body, actor=None, seeded=True)
    return len(missing)


_MEASURE_TARGET = re.compile(r"^(PEG|NRS) (<=|<|>=|>) (\d+(?:\.\d+)?)$")


def measure_target(target: str) -> MeasureTarget | None:
    """A demo goal whose target reads "PEG <= 4" is judged by that measure (its status shows on the card)."""
    found = _MEASURE_TARGET.match(target)
    if found is None:
        return None
    name, comparator, value = found.groups()
    return MeasureTarget(measure=Measure(name.lower()), comparator=Comparator(comparator), value=float(value))


async def _patient(session: AsyncSession, demo: DemoPatient, users: dict[str, User]) -> None:
    lead = actor_of(users["lead"])
    patient = await patients.create_patient(
        session, PatientCreate(mrn=demo.mrn, name=demo.name, birth_date=demo.birth_date), actor=lead
    )
    pid = patient.id or 0
    for username in demo.team:
        await patients.add_member(
            session,
            pid,
            MemberCreate(user_id=users[username].id or 0, role=TeamRole.member),
            expected_version=None,
            actor=lead,
        )
    today = date.today()
    plan = await plans.create_plan(
        session,
        PlanCreate(
            patient_id=pid,
            title=demo.plan,
            period_start=today - timedelta(days=30),
            period_end=today + timedelta(days=120),
            goals=[
                GoalCreate(
                    description=d,
                    target=t,
                    due_date=today + timedelta(days=due_in),
                    measure_target=measure_target(t),
                )
                for d, t, due_in in demo.goals
            ],
        ),
        actor=lead,
    )
    on_team = {"lead", *demo.team}
    made: dict[str, Task] = {}
    for title, lane, status, priority, due_in, assignee in demo.tasks:
        task = await tasks.create_task(
            session,
            plan.id or 0,
            TaskCreate(
                title=title,
                discipline=lane,
                priority=priority,
                due_date=today + timedelta(days=due_in) if due_in is not None else None,
                assignee_id=users[assignee].id if assignee in on_team and assignee else None,
                checklist=[
                    ChecklistItem(text="Document in EMR", done=status is TaskStatus.completed),
                    ChecklistItem(text="Tell the patient", done=False),
                ]
                if lane is Discipline.nurse
                else [],
            ),
            actor=lead,
        )
        for step in _PATH[status]:
            task = await tasks.update_task(
                session, task.id or 0, TaskUpdate(status=step), expected_version=task.version, actor=lead
            )
        made[title] = task
    for gated, gates in DEMO_GATES.items():
        if gated in made and all(g in made for g in gates):
            await tasks.set_gates(
                session,
                made[gated].id or 0,
                [made[g].id or 0 for g in gates],
                expected_version=made[gated].version,
                actor=lead,
            )


# Readiness gates of the demo's procedures (docs/board.md): the task, and the tasks it waits for.
DEMO_GATES = {
    "SCS trial: schedule once the gates are met": (
        "Review thoracic spine MRI",
        "Anticoagulation plan: hold apixaban 3 days, no bridging",
        "Infection screen before SCS trial",
        "Pre-SCS psychological evaluation",
    ),
}


@dataclass(frozen=True)
class DemoReferral:
    """A referral of the demo, walked to its state through the referrals service at past times (days ago),
    so its clocks, events, notifications and tasks look as if it had been lived."""

    mrn: str
    requester: str
    discipline: Discipline
    reason: str
    reason_code: str | None
    priority: ReferralPriority
    sent_days_ago: float
    # (days ago, username, what): "claim", "accept", "decline", "complete", "revoke", "hold"; or "draft".
    steps: tuple[tuple[float, str, str], ...] = ()
    note: str = ""


ELLEN, ROBERT, MARIA, PETER = "IPM-100231", "IPM-100232", "IPM-100233", "IPM-100236"

# One per state; DOMAIN.md "Referrals, conferences and threads".
REFERRALS: list[DemoReferral] = [
    DemoReferral(
        ELLEN,
        "lead",
        D.psychologist,
        "CBT for pain catastrophising (PCS 34)",
        "cbt-pain",
        ReferralPriority.routine,
        2,
    ),
    DemoReferral(
        ROBERT,
        "physician",
        D.psychologist,
        "Pre-SCS psychological evaluation",
        "pre-scs-evaluation",
        ReferralPriority.routine,
        3,
        ((2.5, "psychologist", "claim"),),
    ),
    DemoReferral(
        ELLEN,
        "physician",
        D.physical_therapist,
        "Core stabilisation after MBB",
        "core-stabilisation",
        ReferralPriority.routine,
        10,
        ((9, "physio", "claim"), (8.5, "physio", "accept")),
    ),
    DemoReferral(
        ELLEN,
        "lead",
        D.occupational_therapist,
        "Return-to-work assessment",
        "return-to-work",
        ReferralPriority.routine,
        6,
        ((5, "ot", "decline"),),
        note="Not yet: re-refer after the second diagnostic block, when sitting tolerance is known.",
    ),
    DemoReferral(
        ELLEN,
        "physician",
        D.pharmacist,
        "Opioid taper plan, 110 MME/day",
        "opioid-taper",
        ReferralPriority.urgent,
        20,
        ((19, "pharmacist", "accept"), (4, "pharmacist", "complete")),
        note="Taper agreed: 10% every 2 weeks towards < 50 MME/day; naloxone dispensed; review in 4 weeks.",
    ),
    DemoReferral(
        ELLEN,
        "lead",
        D.social_worker,
        "Lost job, insurance lapse",
        "benefits",
        ReferralPriority.urgent,
        9,
        ((7, "lead", "revoke"),),
        note="Coverage restored through her partner's plan; no longer needed.",
    ),
    DemoReferral(
        ELLEN,
        "lead",
        D.nurse,
        "Urine drug screen before the taper review",
        "urine-drug-screen",
        ReferralPriority.routine,
        1,
        ((1, "lead", "draft"),),
    ),
    DemoReferral(
        MARIA,
        "lead",
        D.occupational_therapist,
        "Activities of daily living, right hand (CRPS)",
        "adl-assessment",
        ReferralPriority.routine,
        4,
        ((3, "lead", "hold"),),
    ),
    # Overdue: urgent (3 days to answer) sent 4 days ago, nobody answered; escalated as the job would.
    DemoReferral(
        PETER,
        "lead",
        D.physical_therapist,
        "Graded exercise after genicular nerve RFA",
        "graded-exercise",
        ReferralPriority.urgent,
        4,
    ),
]


def respond_within(settings: Settings) -> dict[ReferralPriority, timedelta]:
    hours = {
        ReferralPriority.routine: settings.referral_respond_hours_routine,
        ReferralPriority.urgent: settings.referral_respond_hours_urgent,
        ReferralPriority.asap: settings.referral_respond_hours_asap,
        ReferralPriority.stat: settings.referral_respond_hours_stat,
    }
    return {priority: timedelta(hours=h) for priority, h in hours.items()}


async def _referrals(session: AsyncSession, settings: Settings, now: datetime) -> int:
    """The demo's referrals (see ``REFERRALS``), then the overdue escalation as of ``now``; how many."""
    users = {u.username: actor_of(u) for u in await session.exec(select(User))}
    plan_of: dict[str, int] = {}
    for mrn, plan_id in await session.exec(
        select(Patient.mrn, CarePlan.id).join(CarePlan, CarePlan.patient_id == Patient.id)  # type: ignore[arg-type]
    ):
        plan_of.setdefault(mrn, plan_id or 0)
    within = respond_within(settings)
    for demo in REFERRALS:
        at = now - timedelta(days=demo.sent_days_ago)
        draft = any(what == "draft" for _, _, what in demo.steps)
        referral = await referrals.create_referral(
            session,
            ReferralCreate(
                plan_id=plan_of[demo.mrn],
                discipline=demo.discipline,
                reason=demo.reason,
                reason_code=demo.reason_code,
                priority=demo.priority,
                status=ReferralStatus.draft if draft else ReferralStatus.active,
            ),
            actor=users[demo.requester],
            now=at,
            respond_within=within,
        )
        for days_ago, who, what in demo.steps:
            when, actor, rid = now - timedelta(days=days_ago), users[who], referral.id
            if what == "claim":
                referral = await referrals.claim_referral(session, rid, actor=actor, now=when)
            elif what == "accept":
                referral = await referrals.accept_referral(session, rid, actor=actor, now=when)
            elif what == "decline":
                referral = await referrals.decline_referral(
                    session, rid, Decline(reason=demo.note), actor=actor, now=when
                )
            elif what == "complete":
                referral = await referrals.complete_referral(
                    session, rid, Complete(outcome=demo.note), actor=actor, now=when
                )
            elif what == "revoke":
                referral = await referrals.revoke_referral(
                    session, rid, Revoke(reason=demo.note), actor=actor, now=when
                )
            elif what == "hold":
                referral = await referrals.update_referral(
                    session,
                    rid,
                    ReferralUpdate(status=ReferralStatus.on_hold),
                    expected_version=referral.version,
                    actor=actor,
                    now=when,
                )
    await referrals.escalate_overdue(session, now=now)
    return len(REFERRALS)


@dataclass(frozen=True)
class DemoMessage:
    """A message of the demo, posted through the messaging service at a past time (hours ago), so its events,
    notifications and unread counts are real: in the plan's team thread, or a comment on the plan's task
    titled ``task``; ``urgent``: usernames asked to acknowledge it; ``edited``: (hours ago, its new text)."""

    mrn: str
    hours_ago: float
    author: str
    body: str
    task: str | None = None
    urgent: tuple[str, ...] = ()
    edited: tuple[float, str] | None = None


JAMES, FATIMA = "IPM-100234", "IPM-100235"

# Oldest first (each is posted at its time, so ids follow time).
MESSAGES: list[DemoMessage] = [
    DemoMessage(
        FATIMA,
        80,
        "psychologist",
        "ACT group starts next week, 8 sessions. @socialworker can we sort transport?",
    ),
    DemoMessage(
        FATIMA, 76, "socialworker", "Transport booked for all 8 sessions; taxi from home, 9:15 pickup."
    ),
    DemoMessage(
        FATIMA,
        75,
        "socialworker",
        "Taxi voucher approved through March.",
        task="Transport to PT sessions arranged",
    ),
    DemoMessage(
        ROBERT,
        70,
        "physician",
        "SCS trial gates: psychological clearance, thoracic MRI reviewed, anticoagulation plan. "
        "@psychology can you see him before the 20th?",
    ),
    DemoMessage(ROBERT, 66, "psychologist", "Pre-SCS evaluation booked for Monday 10:00."),
    DemoMessage(
        MARIA, 60, "ot", "Graded motor imagery stage 1 started; allodynia less on the dorsum of the hand."
    ),
    DemoMessage(MARIA, 58, "physio", "@ot edema better after mirror therapy; I will add contrast baths."),
    DemoMessage(
        MARIA,
        56,
        "ot",
        "Diary returned: 3 flare days this week, all after housework.",
        task="Pacing and activity diary",
    ),
    DemoMessage(ELLEN, 50, "nurse", "@psychology sleep diary uploaded, worse nights after PT days"),
    DemoMessage(
        ELLEN,
        47,
        "psychologist",
        "Thanks. I will cover pacing in CBT session 3. @pt could the core sessions move to mornings?",
    ),
    DemoMessage(ELLEN, 45, "physio", "Moved to Tuesday and Friday mornings from next week."),
    DemoMessage(
        ROBERT,
        40,
        "pharmacist",
        "@physician MME is 110/day: suggest we start the taper before the trial.",
    ),
    DemoMessage(
        ROBERT,
        39,
        "pharmacist",
        "Proposed 10% reduction every 2 weeks; naloxone already at home.",
        task="Medication review: opioid taper plan",
    ),
    DemoMessage(
        JAMES,
        36,
        "physician",
        "First MBB C3-C4: 80% relief at 30 min. @pt please hold neck strengthening for 48 h.",
    ),
    DemoMessage(JAMES, 34, "physio", "Holding until Monday."),
    DemoMessage(
        ELLEN, 30, "lead", "@team conference Thursday: decide on RFA. Please update your tasks before then."
    ),
    DemoMessage(ELLEN, 28, "nurse", "Patient confirmed Thursday 08:30; her daughter will drive.", task=MBB),
    DemoMessage(ELLEN, 27, "physician", "Thanks. Baseline NRS 7/10 recorded.", task=MBB),
    DemoMessage(
        ELLEN,
        26,
        "physician",
        "MBB L4-L5 booked for Thursday 08:30.",
        edited=(25, "MBB L4-L5 booked for Thursday 08:30. Please record NRS at 30 min, then hourly for 6 h."),
    ),
    DemoMessage(
        PETER, 26, "physician", "Genicular RFA done, uneventful. @pt start the home programme on Monday."
    ),
    DemoMessage(PETER, 22, "physio", "Will do; first review booked for Tuesday."),
    DemoMessage(
        ELLEN,
        20,
        "psychologist",
        "Two weeks in: average 4.5 h sleep, waking 3 times on PT nights.",
        task="Sleep diary review",
    ),
    DemoMessage(
        ELLEN,
        3,
        "nurse",
        "Hold apixaban 48 h before Thursday's medial branch block — please confirm",
        urgent=("physician",),
    ),
]


async def _demo_messages(session: AsyncSession, now: datetime) -> int:
    """The demo's threads (see ``MESSAGES``) as of ``now``, and the lead caught up on Ellen's team thread
    (so "seen by" shows someone); how many messages."""
    users = {u.username: u for u in await session.exec(select(User))}
    actors = {name: actor_of(u) for name, u in users.items()}
    plan_of = {
        mrn: plan_id or 0
        for mrn, plan_id in await session.exec(
            select(Patient.mrn, CarePlan.id).join(CarePlan, CarePlan.patient_id == Patient.id)  # type: ignore[arg-type]
        )
    }
    for demo in MESSAGES:
        at, actor = now - timedelta(hours=demo.hours_ago), actors[demo.author]
        urgent = UrgentCreate(users=[users[u].id or 0 for u in demo.urgent]) if demo.urgent else None
        body = MessageCreate(body=demo.body, urgent=urgent)
        if demo.task is None:
            message = await messaging.post_plan_message(session, plan_of[demo.mrn], body, actor=actor, now=at)
        else:
            task = (
                await session.exec(
                    select(Task).where(Task.plan_id == plan_of[demo.mrn], Task.title == demo.task)
                )
            ).one()
            message = await messaging.post_task_message(session, task.id or 0, body, actor=actor, now=at)
        if demo.edited is not None:
            hours_ago, text = demo.edited
            await messaging.edit_message(
                session,
                message.id,
                MessageUpdate(body=text),
                expected_version=message.version,
                actor=actor,
                now=now - timedelta(hours=hours_ago),
            )
    await reads.mark_plan_read(session, plan_of[ELLEN], up_to=None, actor=actors["lead"])
    return len(MESSAGES)
