"""Reads for the FHIR facade, through the features' own services: their permission filters decide what the
actor sees (another team's resource is not found), and each read is audited there, as the JSON API's is."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.core.actor import Actor, actor_of
from careteam.core.errors import DomainError, Duplicate, Forbidden, NotFound, ValidationFailed
from careteam.core.vocab import ClinicRole
from careteam.events import log as events
from careteam.events import streams
from careteam.events.tables import StreamEvent
from careteam.fhir import inbound
from careteam.fhir.inbound import Invalid
from careteam.messaging import service as messaging
from careteam.messaging.schemas import MessagePublic
from careteam.outcomes import service as outcomes
from careteam.outcomes.schemas import ObservationPublic
from careteam.patients import service as patients
from careteam.patients.codes import TeamRole
from careteam.patients.schemas import (
    CareTeamPublic,
    CareTeamUpdate,
    MemberCreate,
    PatientCreate,
    PatientPublic,
    PatientUpdate,
)
from careteam.plans import board, tasks
from careteam.plans import service as plans
from careteam.plans.schemas import (
    BoardPublic,
    GoalCreate,
    GoalPublic,
    PlanCreate,
    PlanPublic,
    TaskCreate,
    TaskPublic,
    TaskUpdate,
)
from careteam.referrals import service as referrals
from careteam.referrals.codes import ReferralPriority, ReferralStatus
from careteam.referrals.schemas import ReferralCreate, ReferralPublic, ReferralUpdate

M = TypeVar("M", bound=BaseModel)

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
    # When each of its plans' resources last changed ("Task/12" -> time), from the plans' event logs.
    updated: dict[str, datetime] = field(default_factory=dict)

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
        record.updated.update(await last_changes(session, plan_id))
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


# --- Writes -------------------------------------------------------------------------------------------

# careteam's input fields, as the FHIR elements they come from (a 422 names the element the EMR sent).
_ELEMENTS = {
    "mrn": "Patient.identifier",
    "name": "Patient.name",
    "birth_date": "Patient.birthDate",
    "plan_id": "ServiceRequest.basedOn",
    "discipline": "ServiceRequest.performerType",
    "assignee_id": "ServiceRequest.performer",
    "reason": "ServiceRequest.reasonCode",
    "reason_code": "ServiceRequest.reasonCode",
    "priority": "ServiceRequest.priority",
    "respond_by": "ServiceRequest.occurrencePeriod.end",
    "status": "ServiceRequest.status",
}


def _valid(model: type[M], values: Mapping[str, Any], elements: Mapping[str, str] = _ELEMENTS) -> M:
    """careteam's input model from mapped values; its refusals named by the FHIR element."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        issues = []
        for e in exc.errors():
            field = str(e["loc"][0]) if e["loc"] else ""
            issues.append((elements.get(field, field), str(e["msg"])))
        raise Invalid(issues) from None


def invalid_from(exc: ValidationFailed | Duplicate, elements: Mapping[str, str] = _ELEMENTS) -> Invalid:
    """A domain refusal naming careteam's field, as an Invalid naming the FHIR element."""
    status = 409 if isinstance(exc, Duplicate) else 422
    return Invalid([(elements.get(exc.field, exc.field), exc.detail)], status=status)


Versioned = tuple[PatientPublic, int]  # a patient and her version


async def patient_by_mrn(session: AsyncSession, mrn: str, *, actor: Actor) -> Versioned | None:
    """The patient with this MRN, if the actor may see her (audited as a read)."""
    rows, _ = await patients.list_patients(session, actor=actor, q=mrn, limit=50)
    found = next((p for p in rows if p.mrn == mrn), None)
    return None if found is None else (PatientPublic.model_validate(found), found.version)


async def read_patient(session: AsyncSession, patient_id: int, *, actor: Actor) -> Versioned:
    row = await patients.get_patient(session, patient_id, actor=actor)
    return PatientPublic.model_validate(row), row.version


async def create_patient(session: AsyncSession, data: inbound.PatientIn, *, actor: Actor) -> Versioned:
    body = _valid(PatientCreate, {"mrn": data.mrn, "name": data.name, "birth_date": data.birth_date})
    try:
        row = await patients.create_patient(session, body, actor=actor)
    except (ValidationFailed, Duplicate) as exc:
        raise invalid_from(exc) from None
    return PatientPublic.model_validate(row), row.version


async def update_patient(
    session: AsyncSession, patient_id: int, data: inbound.PatientIn, *, expected_version: int, actor: Actor
) -> Versioned:
    """Correct the name and birth date; the MRN is the patient's identity and does not change."""
    current = await patients.get_patient(session, patient_id, actor=actor)
    if data.mrn != current.mrn:
        raise Invalid([("Patient.identifier", f"The MRN is {current.mrn}: it cannot change.")])
    body = _valid(PatientUpdate, {"name": data.name, "birth_date": data.birth_date})
    row = await patients.update_patient(
        session, patient_id, body, expected_version=expected_version, actor=actor
    )
    return PatientPublic.model_validate(row), row.version


async def _requester(session: AsyncSession, requester_id: int | None, *, actor: Actor) -> Actor:
    """Who a referral is from: the clinician signed in, or the one the EMR's interface names."""
    if not actor.is_integration:
        if requester_id not in (None, actor.user_id):
            raise Invalid(
                [("ServiceRequest.requester", "A clinician refers in her own name: leave requester out.")]
            )
        return actor
    if requester_id is None:
        raise Invalid(
            [("ServiceRequest.requester", "Name the referring clinician: requester Practitioner/123.")]
        )
    user = await accounts.active_user(session, requester_id)
    if user is None or user.role == ClinicRole.integration:
        raise Invalid([("ServiceRequest.requester", "No active clinician with this id.")])
    return actor_of(user)


async def create_referral(
    session: AsyncSession,
    data: inbound.ReferralIn,
    *,
    actor: Actor,
    now: datetime,
    respond_within: Mapping[ReferralPriority, timedelta],
) -> ReferralPublic:
    """A referral from the EMR (its interface account, for the clinician it names) or from a clinician;
    the referral rules are the requester's: the team's lead or a physician on it."""
    requester = await _requester(session, data.requester_id, actor=actor)
    body = _valid(
        ReferralCreate,
        {
            "plan_id": data.plan_id,
            "discipline": data.discipline,
            "assignee_id": data.assignee_id,
            "reason": data.reason,
            "reason_code": data.reason_code,
            "priority": data.priority,
            "respond_by": data.respond_by,
            "status": data.status,
        },
    )
    try:
        return await referrals.create_referral(
            session,
            body,
            actor=actor,
            now=now,
            respond_within=respond_within,
            requester=requester,
            identifier=data.identifier,
        )
    except (ValidationFailed, Duplicate) as exc:
        raise invalid_from(exc) from None


async def update_referral(
    session: AsyncSession,
    referral_id: int,
    data: inbound.ReferralIn,
    *,
    expected_version: int,
    actor: Actor,
    now: datetime,
) -> ReferralPublic:
    """Change what differs of a referral: discipline, named clinician, reason, priority, respond-by, status
    (active, on-hold, entered-in-error); the plan and requester are what they were."""
    current = await referrals.get_referral(session, referral_id, actor=actor, now=now)
    if data.plan_id != current.plan_id:
        raise Invalid([("ServiceRequest.basedOn", "A referral stays on its care plan.")])
    wanted = {
        "discipline": data.discipline,
        "assignee_id": data.assignee_id,
        "reason": data.reason,
        "reason_code": data.reason_code,
        "priority": data.priority,
        "respond_by": data.respond_by,
        "status": data.status,
    }
    have = {
        "discipline": current.discipline,
        "assignee_id": current.assignee.id if current.assignee else None,
        "reason": current.reason,
        "reason_code": current.reason_code,
        "priority": current.priority,
        "respond_by": current.respond_by,
        "status": current.status,
    }
    changes = {k: v for k, v in wanted.items() if v != have[k] and not (k == "respond_by" and v is None)}
    body = _valid(ReferralUpdate, changes)
    try:
        return await referrals.update_referral(
            session, referral_id, body, expected_version=expected_version, actor=actor, now=now
        )
    except (ValidationFailed, Duplicate) as exc:
        raise invalid_from(exc) from None


_TASK_ELEMENTS = {
    "status": "Task.status",
    "status_reason": "Task.statusReason",
    "priority": "Task.priority",
    "assignee_id": "Task.owner",
    "title": "Task.description",
    "description": "Task.note",
    "discipline": "Task.performerType",
    "due_date": "Task.restriction.period.end",
}


async def update_task(
    session: AsyncSession,
    task_id: int,
    change: inbound.TaskChange,
    *,
    expected_version: int,
    actor: Actor,
    now: datetime,
) -> tuple[TaskPublic, int]:
    """Move a task (status, with statusReason to cancel), re-prioritise or re-assign it: what differs."""
    current = await tasks.get_task(session, task_id, actor=actor)
    wanted: dict[str, Any] = {
        "status": change.status,
        "priority": change.priority,
        "assignee_id": change.owner_id,
    }
    changes = {k: v for k, v in wanted.items() if v != getattr(current, k)}
    if "status" in changes and change.status_reason is not None:
        changes["status_reason"] = change.status_reason
    body = _valid(TaskUpdate, changes, _TASK_ELEMENTS)
    try:
        row = await tasks.update_task(
            session, task_id, body, expected_version=expected_version, actor=actor, now=now
        )
    except (ValidationFailed, Duplicate) as exc:
        raise invalid_from(exc, _TASK_ELEMENTS) from None
    plan = await board.readable_plan(session, row.plan_id, actor)
    return TaskPublic.model_validate(row), plan.patient_id


# --- A transaction Bundle: a patient's record imported in one go ---------------------------------------

# The order entries are taken in, whatever their order in the bundle: each refers only to those before it.
IMPORT_ORDER = ("Practitioner", "Patient", "CareTeam", "CarePlan", "Goal", "ServiceRequest", "Task")


class EntryFailed(Exception):
    """Entry ``index`` of a transaction could not be taken (nothing of the bundle was)."""

    def __init__(self, index: int, cause: Exception) -> None:
        super().__init__(str(cause))
        self.index = index
        self.cause = cause


@dataclass(frozen=True, slots=True)
class Created:
    index: int
    kind: str
    id: int
    version: int
    created: bool  # False: matched to what exists (a Practitioner)


@dataclass(slots=True)
class _Import:
    """What an import knows as it goes: the bundle's references resolved so far, and which plan each goal
    (by its fullUrl) belongs to."""

    actor: Actor
    now: datetime
    within: Mapping[ReferralPriority, timedelta]
    mrn_system: str
    refs: dict[str, str] = field(default_factory=dict)
    goal_plans: dict[str, int] = field(default_factory=dict)


async def import_bundle(
    session: AsyncSession,
    bundle: Mapping[str, Any],
    *,
    actor: Actor,
    now: datetime,
    respond_within: Mapping[ReferralPriority, timedelta],
    mrn_system: str,
) -> list[Created]:
    """Import a patient with her care team, plans, goals, referrals and tasks from a transaction Bundle, all
    or nothing, as the EMR's interface account. Practitioners are matched to clinicians by their username
    identifier (never created); references between entries are their fullUrls."""
    if not actor.is_integration:
        raise Forbidden("A record is imported by the EMR's interface account.")
    entries = list(enumerate(bundle.get("entry", [])))
    order = {kind: n for n, kind in enumerate(IMPORT_ORDER)}
    for index, entry in entries:
        kind = entry.get("resource", {}).get("resourceType")
        method = entry.get("request", {}).get("method")
        if kind not in order or method != "POST":
            taken = ", ".join(IMPORT_ORDER)
            raise EntryFailed(
                index, Invalid([("request", f"An import takes POST of {taken}; not {method} {kind}.")])
            )
    state = _Import(actor=actor, now=now, within=respond_within, mrn_system=mrn_system)
    done: list[Created] = []
    for index, entry in sorted(entries, key=lambda e: order[e[1]["resource"]["resourceType"]]):
        resource = inbound.resolve(entry["resource"], state.refs)
        full_url = str(entry.get("fullUrl", ""))
        try:
            made = await _import_entry(session, index, resource, full_url, state)
        except (DomainError, Invalid) as exc:
            raise EntryFailed(index, exc) from None
        if full_url:
            state.refs[full_url] = f"{made.kind}/{made.id}"
        done.append(made)
    return sorted(done, key=lambda c: c.index)


async def _import_entry(
    session: AsyncSession, index: int, res: dict[str, Any], full_url: str, state: _Import
) -> Created:
    actor = state.actor
    match res["resourceType"]:
        case "Practitioner":
            names = inbound.usernames(res)
            found = await accounts.user_ids_by_username(session, names)
            if len(names) != 1 or names[0] not in found:
                raise Invalid([("Practitioner.identifier", "No clinician of this clinic has this username.")])
            return Created(index, "Practitioner", found[names[0]], 1, created=False)
        case "Patient":
            data = inbound.patient(res, mrn_system=state.mrn_system)
            patient, version = await create_patient(session, data, actor=actor)
            return Created(index, "Patient", patient.id, version, created=True)
        case "CareTeam":
            team = await _seat_team(session, res, actor=actor)
            return Created(index, "CareTeam", team.id, team.version, created=True)
        case "CarePlan":
            plan_in = inbound.care_plan(res, "")
            values = {
                "patient_id": inbound.reference(res.get("subject"), "Patient", "CarePlan.subject"),
                "title": plan_in.title,
                "description": plan_in.description,
                "status": plan_in.status,
                "period_start": plan_in.period_start,
                "period_end": plan_in.period_end,
            }
            plan = await plans.create_plan(session, _valid(PlanCreate, values, _PLAN_ELEMENTS), actor=actor)
            state.goal_plans.update({ref: plan.id or 0 for ref in plan_in.goal_refs})
            return Created(index, "CarePlan", plan.id or 0, plan.version, created=True)
        case "Goal":
            plan_id = state.goal_plans.get(full_url)
            if plan_id is None:
                raise Invalid(
                    [("Goal", "A goal is imported with the CarePlan that lists it (CarePlan.goal).")]
                )
            goal_in = inbound.goal(res, "")
            values = {
                "description": goal_in.description,
                "target": goal_in.target,
                "lifecycle_status": goal_in.lifecycle_status,
                "due_date": goal_in.due_date,
                "measure_target": goal_in.measure_target,
            }
            goal = await plans.add_goal(
                session, plan_id, _valid(GoalCreate, values, _GOAL_ELEMENTS), actor=actor
            )
            return Created(index, "Goal", goal.id or 0, goal.version, created=True)
        case "ServiceRequest":
            referral_in = inbound.service_request(res)
            if referral_in.status not in (ReferralStatus.draft, ReferralStatus.active):
                raise Invalid([("ServiceRequest.status", "A referral is imported as draft or active.")])
            # Imported, it keeps when it was written (its clocks run from then), never a time to come.
            authored = referral_in.authored_on
            at = authored if authored is not None and authored <= state.now else state.now
            referral = await create_referral(
                session, referral_in, actor=actor, now=at, respond_within=state.within
            )
            return Created(index, "ServiceRequest", referral.id, referral.version, created=True)
        case _:
            task = await _import_task(session, res, actor=actor)
            return Created(index, "Task", task.id or 0, task.version, created=True)


_PLAN_ELEMENTS = {
    "patient_id": "CarePlan.subject",
    "title": "CarePlan.title",
    "description": "CarePlan.description",
    "status": "CarePlan.status",
    "period_start": "CarePlan.period.start",
    "period_end": "CarePlan.period.end",
}
_GOAL_ELEMENTS = {
    "description": "Goal.description",
    "target": "Goal.target",
    "lifecycle_status": "Goal.lifecycleStatus",
    "due_date": "Goal.target.dueDate",
    "measure_target": "Goal.target.detailQuantity",
}


async def _seat_team(session: AsyncSession, res: Mapping[str, Any], *, actor: Actor) -> CareTeamPublic:
    """Seat the care team of a patient the import registered: its name and status, then its members."""
    patient_id = inbound.reference(res.get("subject"), "Patient", "CareTeam.subject")
    members = inbound.team_members(dict(res), "")
    team = await patients.get_team(session, patient_id, actor=actor)
    status, name = res.get("status", team.status), res.get("name", team.name)
    if (status, name) != (team.status, team.name):
        body = _valid(
            CareTeamUpdate,
            {"status": status, "name": name},
            {"status": "CareTeam.status", "name": "CareTeam.name"},
        )
        team = await patients.update_team(
            session, patient_id, body, expected_version=team.version, actor=actor
        )
    if not members:
        return team
    bodies = [
        MemberCreate(
            user_id=m.user_id, role=TeamRole.lead if m.lead else TeamRole.member, discipline=m.discipline
        )
        for m in members
    ]
    try:
        return await patients.add_members(
            session, patient_id, bodies, expected_version=team.version, actor=actor
        )
    except (ValidationFailed, Duplicate) as exc:
        raise invalid_from(exc, {"user_id": "CareTeam.participant.member"}) from None


async def _import_task(session: AsyncSession, res: Mapping[str, Any], *, actor: Actor) -> Any:
    data = inbound.task(dict(res), "")
    values = {
        "title": data.title,
        "description": data.description,
        "discipline": data.discipline,
        "assignee_id": data.owner_id,
        "status": data.status,
        "priority": data.priority,
        "due_date": data.due_date,
    }
    body = _valid(TaskCreate, values, _TASK_ELEMENTS)
    if data.author_id is not None and await accounts.active_user(session, data.author_id) is None:
        raise Invalid([("Task.requester", "No active clinician with this id.")])
    try:
        return await tasks.create_task(
            session,
            data.plan_id,
            body,
            actor=actor,
            referral_id=data.referral_id,
            imported_from=data.author_id or actor.user_id,
            status_reason=data.status_reason,
        )
    except (ValidationFailed, Duplicate) as exc:
        raise invalid_from(exc, _TASK_ELEMENTS) from None


# --- Versions: a resource's history from its plan's event log -------------------------------------------

# Each kind whose changes are events on its plan's stream: the events' kind prefix and their data's shape
# (every such event carries the whole resource as it became, with its version).
_HISTORY: dict[str, tuple[str, type[BaseModel]]] = {
    "CarePlan": ("plan.", PlanPublic),
    "Goal": ("goal.", GoalPublic),
    "Task": ("task.", TaskPublic),
    "ServiceRequest": ("referral.", ReferralPublic),
    "Communication": ("message.", MessagePublic),
    "Observation": ("measure.", ObservationPublic),
}
_HISTORY_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Version:
    number: int
    at: datetime
    public: BaseModel


def has_history(kind: str) -> bool:
    return kind in _HISTORY


async def _plan_log(session: AsyncSession, plan_id: int) -> AsyncIterator[StreamEvent]:
    """Every event still in a plan's log, oldest first, read a page at a time."""
    after = 0
    while True:
        rows = await events.read_after(session, streams.plan(plan_id), after, limit=_HISTORY_PAGE)
        for event in rows:
            yield event
        if len(rows) < _HISTORY_PAGE:
            return
        after = rows[-1].seq


async def versions(session: AsyncSession, kind: str, plan_id: int, ident: int) -> list[Version]:
    """Every version of one resource still in its plan's log (retention may have pruned the oldest), oldest
    first. Not access-checked: the caller has read the resource (checked and audited)."""
    prefix, model = _HISTORY[kind]
    found: dict[int, Version] = {}
    async for event in _plan_log(session, plan_id):
        data = event.data
        version = data.get("version")
        if event.kind.startswith(prefix) and data.get("id") == ident and isinstance(version, int):
            try:
                found[version] = Version(version, event.at, model.model_validate(data))
            except ValidationError:
                continue  # an event about the resource that does not carry it whole
    return sorted(found.values(), key=lambda v: v.number)


async def plan_of(session: AsyncSession, kind: str, resource: Mapping[str, Any], *, actor: Actor) -> int:
    """The plan whose log holds a resource's history (the resource read, so checked, already)."""
    if kind == "CarePlan":
        return int(resource["id"])
    if kind == "Goal":
        return await plans.goal_plan_id(session, int(resource["id"])) or 0
    refs = [r["reference"] for r in resource.get("basedOn", []) + resource.get("about", [])]
    for found in refs:
        if found.startswith("CarePlan/"):
            return int(found.split("/")[1])
    task = next(r for r in refs if r.startswith("Task/"))
    return (await tasks.readable_task(session, int(task.split("/")[1]), actor=actor)).plan_id


async def last_changes(session: AsyncSession, plan_id: int) -> dict[str, datetime]:
    """When each resource of a plan last changed ("Task/12" -> time), from its log (what retention kept).
    Not access-checked: for a record whose plan the caller has read."""
    kinds = {prefix: kind for kind, (prefix, _) in _HISTORY.items()}
    found: dict[str, datetime] = {}
    async for event in _plan_log(session, plan_id):
        ident = event.data.get("id")
        kind = kinds.get(event.kind.split(".", 1)[0] + ".")
        if kind is not None and isinstance(ident, int) and isinstance(event.data.get("version"), int):
            found[f"{kind}/{ident}"] = event.at
    return found
