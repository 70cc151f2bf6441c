"""Resources the EMR sends, read into careteam's inputs: first checked against fhir.resources' R4B models
(each issue located by its FHIRPath), then mapped back with the value sets ``codes`` maps out. Pure: no
database, no web; every refusal is ``Invalid`` with the issues it found."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from careteam.core.vocab import Discipline
from careteam.fhir.codes import REFERRAL_REASON, ROLES, TEAM_LEAD, USERNAME
from careteam.outcomes.codes import MEASURES
from careteam.plans.codes import GoalStatus, PlanStatus, TaskPriority, TaskStatus
from careteam.referrals.codes import ReferralPriority, ReferralStatus

Resource = dict[str, Any]
Issue = tuple[str, str]  # (FHIRPath expression, what is wrong)

_BY_CODE: dict[tuple[str, str], Discipline] = {(r.system, r.code): d for d, r in ROLES.items()}
_REF = re.compile(r"^([A-Za-z]+)/([0-9]{1,10})$")


class Invalid(Exception):
    """A resource that cannot be taken; ``issues`` each name an element."""

    def __init__(self, issues: Sequence[Issue], *, status: int = 422) -> None:
        super().__init__("; ".join(f"{where}: {what}" for where, what in issues))
        self.issues = list(issues)
        self.status = status


def _path(kind: str, loc: Iterable[Any]) -> str:
    """A pydantic location as FHIRPath: ("reasonCode", 0, "text") -> ServiceRequest.reasonCode[0].text."""
    text = kind
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def parse(raw: bytes, kind: str | None) -> Resource:
    """JSON text of one resource (of ``kind``, or any kind for None), valid against its R4B model."""
    try:
        resource = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Invalid([("", "The body must be a FHIR resource as JSON text in UTF-8.")], status=400) from None
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise Invalid([("resourceType", "The body must be a FHIR resource with a resourceType.")], status=400)
    return check(resource, kind)


def check(resource: Resource, kind: str | None, where: str = "") -> Resource:
    """``resource`` if it is a valid R4B resource of ``kind``; else Invalid naming each element."""
    found = resource.get("resourceType")
    if kind is not None and found != kind:
        raise Invalid([(f"{where}resourceType", f"Expected a {kind} here, not {found!r}.")])
    try:
        model = get_fhir_model_class(str(found))
    except KeyError:
        raise Invalid([(f"{where}resourceType", f"Unknown resource type {found!r}.")]) from None
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        issues = [(where + _path(str(found), e["loc"]), e["msg"]) for e in exc.errors()]
        raise Invalid(issues) from None
    return resource


def resolve(value: Any, refs: Mapping[str, str]) -> Any:
    """``value`` with every reference to a bundle entry (its fullUrl, a key of ``refs``) rewritten as the
    local reference ``refs`` gives ("CarePlan/12")."""
    if isinstance(value, dict):
        return {
            k: refs.get(v, v) if k == "reference" and isinstance(v, str) else resolve(v, refs)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [resolve(v, refs) for v in value]
    return value


def reference(value: Any, kind: str, where: str) -> int:
    """The id a reference to ``kind`` names ("Kind/123")."""
    text = value.get("reference") if isinstance(value, dict) else None
    if isinstance(text, str):
        found = _REF.match(text)
        if found is not None and found.group(1) == kind and int(found.group(2)) < 2**31:
            return int(found.group(2))
    raise Invalid([(where, f"Must be a reference to a {kind}: {kind}/123.")])


def discipline(concept: Any, where: str) -> Discipline:
    """A discipline from a CodeableConcept coded as ``codes.ROLES`` codes it (SNOMED CT or local)."""
    for coding in concept.get("coding", []) if isinstance(concept, dict) else []:
        found = _BY_CODE.get((coding.get("system"), coding.get("code")))
        if found is not None:
            return found
    systems = ", ".join(sorted({f"{r.system}|{r.code}" for r in ROLES.values()}))
    raise Invalid([(where, f"Code the discipline as one of: {systems}.")])


def _choice(value: Any, allowed: type[Any], where: str) -> Any:
    try:
        return allowed(value)
    except ValueError:
        options = ", ".join(str(v.value) for v in allowed)
        raise Invalid([(where, f"Must be one of: {options}.")]) from None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class PatientIn:
    mrn: str
    name: str
    birth_date: date


def patient(resource: Resource, *, mrn_system: str) -> PatientIn:
    """The MRN (the identifier in the clinic's MRN system), the name (text, or given and family names) and
    the birth date."""
    mrns = [i.get("value") for i in resource.get("identifier", []) if i.get("system") == mrn_system]
    issues: list[Issue] = []
    if len(mrns) != 1 or not _text(mrns[0]):
        issues.append(
            ("Patient.identifier", f"Give exactly one identifier with system {mrn_system} (the MRN).")
        )
    names = resource.get("name", [])
    name = ""
    if names:
        first = names[0]
        name = (
            _text(first.get("text")) or " ".join([*first.get("given", []), first.get("family", "")]).strip()
        )
    if not name:
        issues.append(("Patient.name", "Give the patient's name (name[0].text, or given and family)."))
    if "birthDate" not in resource:
        issues.append(("Patient.birthDate", "Give the birth date."))
    if issues:
        raise Invalid(issues)
    return PatientIn(mrn=_text(mrns[0]), name=name, birth_date=date.fromisoformat(resource["birthDate"]))


@dataclass(frozen=True, slots=True)
class ReferralIn:
    plan_id: int
    discipline: Discipline
    reason: str
    reason_code: str | None
    priority: ReferralPriority
    status: ReferralStatus
    respond_by: datetime | None
    requester_id: int | None
    assignee_id: int | None
    identifier: tuple[str, str] | None
    authored_on: datetime | None


def service_request(resource: Resource) -> ReferralIn:
    """A referral: the CarePlan it is for (``basedOn``), the discipline (``performerType``), the reason
    (``reasonCode[0]``), and optionally the requester, a named performer, respond-by and the sender's own
    identifier."""
    kind = "ServiceRequest"
    plans = [b for b in resource.get("basedOn", []) if str(b.get("reference", "")).startswith("CarePlan/")]
    if len(plans) != 1:
        raise Invalid([(f"{kind}.basedOn", "Name the care plan the referral is for: basedOn CarePlan/123.")])
    reasons = resource.get("reasonCode", [])
    reason = _text(reasons[0].get("text")) if reasons else ""
    if not reason:
        raise Invalid([(f"{kind}.reasonCode", "Give the reason for referral as reasonCode[0].text.")])
    codes = [c.get("code") for c in reasons[0].get("coding", []) if c.get("system") == REFERRAL_REASON]
    performers = resource.get("performer", [])
    identifiers = [i for i in resource.get("identifier", []) if i.get("system") and i.get("value")]
    end = resource.get("occurrencePeriod", {}).get("end")
    return ReferralIn(
        plan_id=reference(plans[0], "CarePlan", f"{kind}.basedOn"),
        discipline=discipline(resource.get("performerType"), f"{kind}.performerType"),
        reason=reason,
        reason_code=codes[0] if codes else None,
        priority=_choice(resource.get("priority", "routine"), ReferralPriority, f"{kind}.priority"),
        status=_choice(resource["status"], ReferralStatus, f"{kind}.status"),
        respond_by=_instant(end),
        requester_id=(
            reference(resource["requester"], "Practitioner", f"{kind}.requester")
            if "requester" in resource
            else None
        ),
        assignee_id=reference(performers[0], "Practitioner", f"{kind}.performer") if performers else None,
        identifier=(identifiers[0]["system"], identifiers[0]["value"]) if identifiers else None,
        authored_on=_instant(resource.get("authoredOn")),
    )


def _instant(value: Any) -> datetime | None:
    """A FHIR dateTime with its time and offset (the model checked its form); None for a date alone."""
    if not isinstance(value, str) or "T" not in value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class TaskChange:
    status: TaskStatus
    status_reason: str | None
    priority: TaskPriority
    owner_id: int | None


def task_change(resource: Resource) -> TaskChange:
    """What an update of a Task may change: status (and statusReason), priority and owner."""
    owner = resource.get("owner")
    return TaskChange(
        status=_choice(resource["status"], TaskStatus, "Task.status"),
        status_reason=_text(resource.get("statusReason", {}).get("text")) or None,
        priority=_choice(resource.get("priority", "routine"), TaskPriority, "Task.priority"),
        owner_id=reference(owner, "Practitioner", "Task.owner") if owner is not None else None,
    )


@dataclass(frozen=True, slots=True)
class TaskIn:
    title: str
    description: str
    discipline: Discipline
    status: TaskStatus
    status_reason: str | None
    priority: TaskPriority
    due_date: date | None
    owner_id: int | None
    author_id: int | None
    plan_id: int
    referral_id: int | None


def task(resource: Resource, where: str) -> TaskIn:
    """A task to import: title (``description``), lane (``performerType``), status, and the plan it is on
    (``basedOn``, a CarePlan of the same bundle or of careteam)."""
    change = task_change(resource)
    based_on = [str(b.get("reference", "")) for b in resource.get("basedOn", [])]
    plan_refs = [r for r in based_on if r.startswith("CarePlan/")]
    lanes = resource.get("performerType", [])
    title = _text(resource.get("description"))
    if not title:
        raise Invalid([(f"{where}Task.description", "Give the task's title as description.")])
    if not plan_refs:
        raise Invalid([(f"{where}Task.basedOn", "Name the care plan the task is on: basedOn.")])
    end = resource.get("restriction", {}).get("period", {}).get("end")
    requester = resource.get("requester")
    notes = resource.get("note", [])
    return TaskIn(
        title=title,
        description=_text(notes[0].get("text")) if notes else "",
        discipline=discipline(lanes[0] if lanes else None, f"{where}Task.performerType"),
        status=change.status,
        status_reason=change.status_reason,
        priority=change.priority,
        due_date=date.fromisoformat(end[:10]) if isinstance(end, str) else None,
        owner_id=change.owner_id,
        author_id=reference(requester, "Practitioner", f"{where}Task.requester") if requester else None,
        plan_id=reference({"reference": plan_refs[0]}, "CarePlan", f"{where}Task.basedOn"),
        referral_id=next(
            (
                reference({"reference": r}, "ServiceRequest", f"{where}Task.basedOn")
                for r in based_on
                if r.startswith("ServiceRequest/")
            ),
            None,
        ),
    )


@dataclass(frozen=True, slots=True)
class GoalIn:
    description: str
    target: str
    lifecycle_status: GoalStatus
    due_date: date | None
    measure_target: dict[str, Any] | None  # {"measure", "comparator", "value"}: a goal judged by a measure


# An outcome measure by its coding (outcomes' codes, LOINC or local), for a goal's target.
_MEASURE_BY_CODE = {(m.system, m.code): measure for measure, m in MEASURES.items()}


def goal(resource: Resource, where: str) -> GoalIn:
    targets = resource.get("target", [])
    first = targets[0] if targets else {}
    due = first.get("dueDate")
    measure_target = None
    codings = first.get("measure", {}).get("coding", [])
    detail = first.get("detailQuantity")
    found = [_MEASURE_BY_CODE.get((c.get("system"), c.get("code"))) for c in codings]
    if any(found) and detail is not None:
        measure_target = {
            "measure": next(m for m in found if m),
            "comparator": detail.get("comparator", "<="),
            "value": detail.get("value"),
        }
    text = _text(first.get("measure", {}).get("text"))
    return GoalIn(
        description=_text(resource.get("description", {}).get("text")) or "Goal",
        # The measure's own name is no free text of the goal's (what the export writes without one).
        target="" if measure_target and text == MEASURES[measure_target["measure"]].display else text,
        lifecycle_status=_choice(resource["lifecycleStatus"], GoalStatus, f"{where}Goal.lifecycleStatus"),
        due_date=date.fromisoformat(due) if isinstance(due, str) else None,
        measure_target=measure_target,
    )


@dataclass(frozen=True, slots=True)
class PlanIn:
    title: str
    description: str
    status: PlanStatus
    period_start: date | None
    period_end: date | None
    goal_refs: list[str]


def care_plan(resource: Resource, where: str) -> PlanIn:
    period = resource.get("period", {})
    start, end = period.get("start"), period.get("end")
    return PlanIn(
        title=_text(resource.get("title")) or "Care plan",
        description=_text(resource.get("description")),
        status=_choice(resource["status"], PlanStatus, f"{where}CarePlan.status"),
        period_start=date.fromisoformat(start[:10]) if isinstance(start, str) else None,
        period_end=date.fromisoformat(end[:10]) if isinstance(end, str) else None,
        goal_refs=[str(g.get("reference", "")) for g in resource.get("goal", [])],
    )


@dataclass(frozen=True, slots=True)
class MemberIn:
    user_id: int
    discipline: Discipline
    lead: bool


def team_members(resource: Resource, where: str) -> list[MemberIn]:
    """The participants: each a Practitioner (Practitioner/123, or a bundle entry matched to a clinician by
    its username identifier) with its discipline as first role and, for the lead, the team-lead role."""
    found = []
    for n, participant in enumerate(resource.get("participant", [])):
        roles = participant.get("role", [])
        at = f"{where}CareTeam.participant[{n}]"
        if not roles:
            raise Invalid([(f"{at}.role", "Give the participant's discipline as its first role.")])
        lead = any(
            c.get("system") == TEAM_LEAD.system and c.get("code") == TEAM_LEAD.code
            for r in roles
            for c in r.get("coding", [])
        )
        found.append(
            MemberIn(
                user_id=reference(participant.get("member"), "Practitioner", f"{at}.member"),
                discipline=discipline(roles[0], f"{at}.role"),
                lead=lead,
            )
        )
    return found


def usernames(resource: Resource) -> list[str]:
    """A Practitioner's usernames in careteam (its identifiers in the username system)."""
    return [str(i["value"]) for i in resource.get("identifier", []) if i.get("system") == USERNAME]
