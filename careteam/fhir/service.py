"""Reads for the FHIR facade, through the features' own services: their permission filters decide what the
actor sees (another team's resource is not found), and each read is audited there, as the JSON API's is."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.core.actor import Actor
from careteam.core.errors import NotFound
from careteam.messaging import service as messaging
from careteam.messaging.schemas import MessagePublic
from careteam.outcomes import service as outcomes
from careteam.outcomes.schemas import ObservationPublic
from careteam.patients import service as patients
from careteam.patients.schemas import CareTeamPublic, PatientPublic
from careteam.plans import board, tasks
from careteam.plans import service as plans
from careteam.plans.schemas import BoardPublic, TaskPublic
from careteam.referrals import service as referrals
from careteam.referrals.schemas import ReferralPublic

# How many of a patient's plans, referrals and messages per thread a record holds at most (an export, not a
# page: a patient with more is read in full by plan and by thread through the JSON API).
RECORD_MOST = 1000


@dataclass(slots=True)
class Record:
    """What the actor may read of one patient: her demographics and care team (anyone who sees her), her
    plans with their goals and tasks, referrals, messages and scores (her care team only)."""

    patient: PatientPublic
    patient_version: int
    team: CareTeamPublic
    boards: list[BoardPublic] = field(default_factory=list)
    referrals: list[ReferralPublic] = field(default_factory=list)
    messages: list[MessagePublic] = field(default_factory=list)
    observations: list[ObservationPublic] = field(default_factory=list)

    def user_ids(self) -> set[int]:
        """Every clinician the record refers to, as a Practitioner."""
        ids = {m.user_id for m in self.team.members}
        for b in self.boards:
            for t in b.tasks:
                ids.update(i for i in (t.assignee_id, t.author_id) if i is not None)
        for r in self.referrals:
            ids.add(r.requester.id)
            if r.assignee is not None:
                ids.add(r.assignee.id)
        ids.update(m.author.id for m in self.messages)
        ids.update(o.author_id for o in self.observations)
        return ids


async def patient_record(session: AsyncSession, patient_id: int, *, actor: Actor) -> Record:
    """The patient's whole record as the actor may read it; not found if she may not see the patient."""
    row = await patients.get_patient(session, patient_id, actor=actor)
    record = Record(
        patient=PatientPublic.model_validate(row),
        patient_version=row.version,
        team=await patients.get_team(session, patient_id, actor=actor),
    )
    rows, _ = await plans.list_plans(session, actor=actor, patient_id=patient_id, limit=RECORD_MOST)
    for plan in sorted(rows, key=lambda p: p.id or 0):
        plan_id = plan.id or 0
        record.boards.append(await board.get_board(session, plan_id, actor=actor))
        record.messages.extend(await _thread(session, plan_id, None, actor))
        for task_id in sorted(await messaging.task_comment_counts(session, plan_id)):
            record.messages.extend(await _thread(session, plan_id, task_id, actor))
        record.observations.extend(
            outcomes.public(o) for o in await outcomes.plan_observations(session, plan_id, actor=actor)
        )
    if rows:
        found, _ = await referrals.list_referrals(
            session, actor=actor, patient_id=patient_id, limit=RECORD_MOST
        )
        record.referrals = sorted(found, key=lambda r: r.id)
    return record


async def _thread(
    session: AsyncSession, plan_id: int, task_id: int | None, actor: Actor
) -> list[MessagePublic]:
    """A whole thread, oldest first (page by page, newest first, as the API pages it)."""
    found: list[MessagePublic] = []
    before: int | None = None
    while True:
        if task_id is None:
            page = await messaging.list_plan_messages(session, plan_id, actor=actor, before=before, limit=100)
        else:
            page = await messaging.list_task_messages(session, task_id, actor=actor, before=before, limit=100)
        found.extend(page.items)
        if page.next_before is None or len(found) >= RECORD_MOST:
            return sorted(found, key=lambda m: m.id)
        before = page.next_before


async def team_record(session: AsyncSession, team_id: int, *, actor: Actor) -> CareTeamPublic:
    patient_id = await patients.team_patient_id(session, team_id)
    if patient_id is None:
        raise NotFound("No such care team.")
    return await patients.get_team(session, patient_id, actor=actor)


async def plan_board(session: AsyncSession, plan_id: int, *, actor: Actor) -> tuple[BoardPublic, int]:
    """A plan's board and its patient's care team id."""
    found = await board.get_board(session, plan_id, actor=actor)
    team_id = await patients.team_id_of(session, found.patient.id)
    return found, team_id


async def goal_board(session: AsyncSession, goal_id: int, *, actor: Actor) -> BoardPublic:
    """The board that holds the goal (not found if the actor may not read it)."""
    plan_id = await plans.goal_plan_id(session, goal_id)
    if plan_id is None:
        raise NotFound("No such goal.")
    return await board.get_board(session, plan_id, actor=actor)


async def task_record(session: AsyncSession, task_id: int, *, actor: Actor) -> tuple[TaskPublic, int]:
    """A task and its patient's id."""
    row = await tasks.get_task(session, task_id, actor=actor)
    plan = await board.readable_plan(session, row.plan_id, actor)
    return TaskPublic.model_validate(row), plan.patient_id


async def message_record(
    session: AsyncSession, message_id: int, *, actor: Actor
) -> tuple[MessagePublic, int]:
    message = await messaging.get_message(session, message_id, actor=actor)
    plan = await board.readable_plan(session, message.plan_id, actor)
    return message, plan.patient_id


async def referral_record(session: AsyncSession, referral_id: int, *, actor: Actor) -> ReferralPublic:
    return await referrals.get_referral(session, referral_id, actor=actor)


async def observation_record(
    session: AsyncSession, observation_id: int, *, actor: Actor
) -> ObservationPublic:
    return outcomes.public(await outcomes.get_observation(session, observation_id, actor=actor))


async def practitioners(session: AsyncSession, user_ids: Iterable[int]) -> list[accounts.Identity]:
    """Clinicians by id (the clinic's directory, which every signed-in clinician may read)."""
    return await accounts.practitioners(session, user_ids)
