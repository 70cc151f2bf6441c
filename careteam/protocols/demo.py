"""The demo clinic's protocol templates (DOMAIN.md): the lumbar facet pathway, an opioid taper, the spinal
cord stimulator trial with its gates, and CRPS of the upper limb; the opioid taper applied to Peter Novak's
plan. Created once; a clinic with any template gets none."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.core.actor import actor_of
from careteam.db.engine import unit_of_work
from careteam.db.types import utcnow
from careteam.patients import service as patients
from careteam.plans import service as plans
from careteam.protocols import service as protocols
from careteam.protocols.schemas import ApplyTemplate, TemplateBody
from careteam.protocols.tables import ProtocolTemplate


def _task(key: str, title: str, lane: str, offset: int, *gates: str, **more: Any) -> dict[str, Any]:
    return {
        "key": key,
        "title": title,
        "discipline": lane,
        "due_offset_days": offset,
        "gates": list(gates),
        **more,
    }


TEMPLATES: list[dict[str, Any]] = [
    {
        "name": "Lumbar facet pathway",
        "description": "Two diagnostic medial branch blocks, then RFA if both give enough relief.",
        "status": "active",
        "goals": [
            {"description": "PEG from 7 to 4 or less", "target": "PEG <= 4", "due_offset_days": 84},
            {"description": "Walk 30 minutes daily", "target": "5 days a week", "due_offset_days": 56},
        ],
        "tasks": [
            _task("mri", "Review lumbar MRI", "physician", 7),
            _task("mbb1", "Medial branch block L4-L5 #1 (diagnostic)", "physician", 14, "mri"),
            _task("diary1", "Hourly pain diary and % relief after block #1", "nurse", 15, "mbb1"),
            _task("mbb2", "Medial branch block L4-L5 #2 (diagnostic)", "physician", 28, "mbb1"),
            _task(
                "decide",
                "Decide on RFA after second block",
                "physician",
                35,
                "mbb2",
                description="Proceed if both blocks gave at least 80% relief for their expected duration.",
            ),
            _task("anticoag", "Anticoagulation plan before RFA", "nurse", 38),
            _task("rfa", "RFA L4-L5 bilateral", "physician", 49, "decide", "anticoag"),
            _task("core", "Core stabilisation programme, 2x weekly", "physical_therapist", 21),
            _task("call", "Follow-up call after RFA", "nurse", 52, "rfa"),
        ],
    },
    {
        "name": "Opioid taper",
        "description": "A slow taper on long-term opioid therapy with its safety basics.",
        "status": "active",
        "goals": [
            {"description": "Taper to under 50 MME/day", "target": "< 50 MME/day", "due_offset_days": 112},
        ],
        "tasks": [
            _task("plan", "Opioid taper plan (about 10% a month)", "pharmacist", 7, priority="urgent"),
            _task("agreement", "Opioid treatment agreement renewal", "nurse", 7),
            _task("pdmp", "PDMP check", "nurse", 7),
            _task("naloxone", "Naloxone offered and documented", "nurse", 7),
            _task("uds", "UDS due", "nurse", 14),
            _task("cbt", "CBT for pain: coping with the taper", "psychologist", 21),
            _task("step1", "Review taper step 1", "pharmacist", 35, "plan"),
            _task("reassess", "Reassessment at 3 months", "physician", 90, "step1"),
        ],
    },
    {
        "name": "Spinal cord stimulator trial",
        "description": "The work-up and gates before an SCS trial (failed back surgery syndrome).",
        "status": "active",
        "goals": [
            {
                "description": "Decide on SCS implant",
                "target": "50% relief in the trial",
                "due_offset_days": 45,
            },
        ],
        "tasks": [
            _task("psych", "Psychological clearance for SCS trial", "psychologist", 14),
            _task("imaging", "Imaging reviewed: MRI thoracic spine", "physician", 14),
            _task(
                "anticoag",
                "Anticoagulation plan",
                "nurse",
                21,
                description="Hold apixaban 3 days before the trial; bridging not needed.",
            ),
            _task("infection", "Infection screen", "nurse", 21),
            _task("education", "Trial education and dressing plan", "nurse", 25),
            _task("trial", "SCS trial", "physician", 30, "psych", "imaging", "anticoag", "infection"),
            _task("review", "Trial review: % relief and function", "physician", 38, "trial"),
        ],
    },
    {
        "name": "CRPS upper limb",
        "description": "Complex regional pain syndrome of the hand: blocks, graded motor imagery, therapy.",
        "status": "active",
        "goals": [
            {
                "description": "Use the hand for daily tasks",
                "target": "Grip without guarding",
                "due_offset_days": 84,
            },
            {"description": "NRS 4 or less", "target": "NRS <= 4", "due_offset_days": 84},
        ],
        "tasks": [
            _task("sgb1", "Stellate ganglion block (1 of 3)", "physician", 7),
            _task("sgb2", "Stellate ganglion block (2 of 3)", "physician", 21, "sgb1"),
            _task("sgb3", "Stellate ganglion block (3 of 3)", "physician", 35, "sgb2"),
            _task("gmi", "Graded motor imagery, stage 1", "occupational_therapist", 7),
            _task("desens", "Desensitisation programme", "occupational_therapist", 14),
            _task("splint", "Splint review", "occupational_therapist", 14),
            _task("mirror", "Mirror therapy", "physical_therapist", 21, "gmi"),
            _task("edema", "Edema control", "physical_therapist", 7),
            _task("fear", "Fear-avoidance assessment", "psychologist", 14),
            _task("scs", "Consider SCS trial if blocks fail", "physician", 49, "sgb3"),
        ],
    },
]
# The template the demo applies, and to whose plan.
APPLIED = ("Opioid taper", "Peter Novak")


async def seed(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Save the demo's templates (as the IPM lead) and apply one, unless the clinic has a template."""
    async with unit_of_work(sessions) as session:
        if (await session.exec(select(col(ProtocolTemplate.id)).limit(1))).first() is not None:
            return 0
        users = accounts.directory()
        ids = {name: int(uid) for uid, name in await session.exec(select(users.c.id, users.c.username))}
        user = await accounts.active_user(session, ids["lead"])
        assert user is not None, "the demo's accounts are active"
        lead = actor_of(user)
        made = {}
        for spec in TEMPLATES:
            template = await protocols.create_template(session, TemplateBody.model_validate(spec), actor=lead)
            made[template.name] = template.id
        plan_rows, _ = await plans.list_plans(session, actor=lead, limit=100)
        names = await patients.patient_cards(session, [p.patient_id for p in plan_rows])
        plan_of = {names[p.patient_id][0]: p.id or 0 for p in sorted(plan_rows, key=lambda p: -(p.id or 0))}
        name, patient = APPLIED
        if patient in plan_of:
            start = (utcnow() - timedelta(days=7)).date()
            await protocols.apply_template(
                session,
                plan_of[patient],
                ApplyTemplate(template_id=made[name], start_date=start),
                actor=lead,
                today=utcnow().date(),
            )
        return len(made)
