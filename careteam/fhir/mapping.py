"""The features' public shapes as FHIR R4 resources (plain dicts, serialised as they are): pure functions,
one per resource type. docs/fhir.md has the mapping field by field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from careteam.accounts.service import Identity
from careteam.audit.schemas import AuditEntryPublic
from careteam.fhir.codes import (
    AUDIT_TYPE,
    AUDITED,
    BOARD_COLUMN,
    DICOM,
    MEASURE_ITEM,
    OBSERVATION_CATEGORY,
    REFERRAL_REASON,
    RESTFUL,
    TEAM_LEAD,
    UCUM,
    USERNAME,
    role_concept,
)
from careteam.fhir.service import Record
from careteam.messaging.schemas import MessagePublic
from careteam.outcomes.codes import MEASURES, ObservationStatus
from careteam.outcomes.schemas import ObservationPublic
from careteam.patients.codes import TeamRole
from careteam.patients.schemas import CareTeamPublic, MemberPublic, PatientPublic
from careteam.plans.codes import COLUMN_LABELS, COLUMN_OF
from careteam.plans.schemas import GoalPublic, PlanPublic, TaskPublic
from careteam.referrals.schemas import ReferralPublic

Resource = dict[str, Any]


def ref(kind: str, ident: int) -> dict[str, str]:
    return {"reference": f"{kind}/{ident}"}


def instant(value: datetime) -> str:
    """A FHIR instant: UTC with its offset written out (naive values are UTC here)."""
    text = value.isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z") if value.tzinfo else text + "Z"


def _meta(version: int, updated: datetime | None = None) -> dict[str, str]:
    meta = {"versionId": str(version)}
    if updated is not None:
        meta["lastUpdated"] = instant(updated)
    return meta


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _drop_empty(resource: Resource) -> Resource:
    """FHIR forbids empty values: leave out None, "" and empty lists."""
    return {k: v for k, v in resource.items() if v not in (None, "", [], {})}


def patient(row: PatientPublic, *, version: int, mrn_system: str) -> Resource:
    return {
        "resourceType": "Patient",
        "id": str(row.id),
        "meta": _meta(version),
        "identifier": [{"use": "usual", "system": mrn_system, "value": row.mrn}],
        "name": [{"text": row.name}],
        "birthDate": row.birth_date.isoformat(),
    }


def practitioner(who: Identity) -> Resource:
    return {
        "resourceType": "Practitioner",
        "id": str(who.user_id),
        "meta": _meta(1),  # an account is not versioned: its one version is what it is now
        "identifier": [{"system": USERNAME, "value": who.username}],
        "active": who.active,
        "name": [{"text": who.display_name}],
        "qualification": [{"code": role_concept(who.discipline)}],
    }


def _participant(member: MemberPublic) -> Resource:
    roles = [role_concept(member.discipline)]
    if member.role is TeamRole.lead:
        roles.append(
            {"coding": [{"system": TEAM_LEAD.system, "code": TEAM_LEAD.code, "display": TEAM_LEAD.display}]}
        )
    return {"role": roles, "member": {**ref("Practitioner", member.user_id), "display": member.display_name}}


def care_team(team: CareTeamPublic) -> Resource:
    return _drop_empty(
        {
            "resourceType": "CareTeam",
            "id": str(team.id),
            "meta": _meta(team.version),
            "status": team.status.value,
            "name": team.name,
            "subject": ref("Patient", team.patient_id),
            "participant": [_participant(m) for m in team.members],
        }
    )


def care_plan(
    plan: PlanPublic, *, team_id: int | None, goal_ids: Sequence[int], task_ids: Sequence[int]
) -> Resource:
    period = _drop_empty({"start": _day(plan.period_start), "end": _day(plan.period_end)})
    return _drop_empty(
        {
            "resourceType": "CarePlan",
            "id": str(plan.id),
            "meta": _meta(plan.version),
            "status": plan.status.value,
            "intent": "plan",
            "title": plan.title,
            "description": plan.description,
            "subject": ref("Patient", plan.patient_id),
            "period": period,
            "careTeam": [ref("CareTeam", team_id)] if team_id is not None else [],
            "goal": [ref("Goal", g) for g in goal_ids],
            "activity": [{"reference": ref("Task", t)} for t in task_ids],
        }
    )


def goal(row: GoalPublic, *, patient_id: int) -> Resource:
    # What is tracked: the outcome measure (coded) for a goal judged by one, with its comparator and value;
    # the free-text target as the measure's text; the due date as the target's.
    measure: Resource | None = {"text": row.target} if row.target else None
    detail: Resource | None = None
    if row.measure_target is not None:
        code = MEASURES[row.measure_target.measure]
        measure = {
            "coding": [{"system": code.system, "code": code.code, "display": code.display}],
            "text": row.target or code.display,
        }
        detail = {"value": row.measure_target.value, "comparator": row.measure_target.comparator.value}
    target = _drop_empty({"measure": measure, "detailQuantity": detail, "dueDate": _day(row.due_date)})
    return _drop_empty(
        {
            "resourceType": "Goal",
            "id": str(row.id),
            "meta": _meta(row.version),
            "lifecycleStatus": row.lifecycle_status.value,
            "description": {"text": row.description},
            "subject": ref("Patient", patient_id),
            "target": [target] if target else [],
        }
    )


def task(row: TaskPublic, *, patient_id: int) -> Resource:
    column = COLUMN_OF[row.status]
    based_on = [ref("CarePlan", row.plan_id)]
    if row.referral_id is not None:
        based_on.append(ref("ServiceRequest", row.referral_id))
    return _drop_empty(
        {
            "resourceType": "Task",
            "id": str(row.id),
            "meta": _meta(row.version),
            "basedOn": based_on,
            "status": row.status.value,
            "statusReason": {"text": row.status_reason} if row.status_reason else None,
            "businessStatus": {
                "coding": [{"system": BOARD_COLUMN, "code": column.value, "display": COLUMN_LABELS[column]}]
            },
            "intent": "plan",
            "priority": row.priority.value,
            "description": row.title,
            "for": ref("Patient", patient_id),
            "requester": ref("Practitioner", row.author_id) if row.author_id is not None else None,
            "performerType": [role_concept(row.discipline)],
            "owner": ref("Practitioner", row.assignee_id) if row.assignee_id is not None else None,
            "note": [{"text": row.description}] if row.description else [],
            "restriction": {"period": {"end": _day(row.due_date)}} if row.due_date is not None else None,
        }
    )


def service_request(row: ReferralPublic) -> Resource:
    reason: Resource = {"text": row.reason}
    if row.reason_code:
        reason["coding"] = [{"system": REFERRAL_REASON, "code": row.reason_code}]
    return _drop_empty(
        {
            "resourceType": "ServiceRequest",
            "id": str(row.id),
            "meta": _meta(row.version, row.updated_at),
            "identifier": (
                [{"system": row.identifier.system, "value": row.identifier.value}] if row.identifier else []
            ),
            "basedOn": [ref("CarePlan", row.plan_id)],
            "status": row.status.value,
            "intent": "order",
            "priority": row.priority.value,
            "code": {"text": f"Referral to {role_concept(row.discipline)['text']}"},
            "subject": ref("Patient", row.patient.id),
            "requester": {**ref("Practitioner", row.requester.id), "display": row.requester.display_name},
            "performerType": role_concept(row.discipline),
            "performer": [ref("Practitioner", row.assignee.id)] if row.assignee is not None else [],
            "reasonCode": [reason],
            "occurrencePeriod": {"end": instant(row.respond_by)},
            "authoredOn": instant(row.created_at) if row.created_at is not None else None,
        }
    )


def communication(row: MessagePublic, *, patient_id: int) -> Resource:
    about = ref("Task", row.task_id) if row.task_id is not None else ref("CarePlan", row.plan_id)
    return _drop_empty(
        {
            "resourceType": "Communication",
            "id": str(row.id),
            "meta": _meta(row.version, row.edited_at),
            "status": "entered-in-error" if row.deleted else "completed",
            "priority": "urgent" if row.urgent is not None else "routine",
            "subject": ref("Patient", patient_id),
            "about": [about],
            "sent": instant(row.created_at),
            "sender": {**ref("Practitioner", row.author.id), "display": row.author.display_name},
            "payload": [] if row.deleted else [{"contentString": row.body}],
        }
    )


def observation(row: ObservationPublic) -> Resource:
    measure = MEASURES[row.measure]
    unit = row.unit or "{score}"
    resource: Resource = {
        "resourceType": "Observation",
        "id": str(row.id),
        "meta": _meta(row.version),
        "status": row.status.value,
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}],
        "code": {
            "coding": [{"system": row.code.system, "code": row.code.code, "display": row.code.display}],
            "text": measure.title,
        },
        "basedOn": [ref("CarePlan", row.plan_id)],
        "subject": ref("Patient", row.patient_id),
        "effectiveDateTime": instant(row.effective_at),
        "issued": instant(row.created_at),
        "performer": [ref("Practitioner", row.author_id)],
        "valueQuantity": {"value": row.value, "unit": unit, "system": UCUM, "code": unit},
    }
    if row.band:
        resource["interpretation"] = [{"text": row.band}]
    notes = [row.note] if row.note else []
    if row.status is ObservationStatus.entered_in_error and row.error_reason:
        notes.append(f"Entered in error: {row.error_reason}")
    if notes:
        resource["note"] = [{"text": n} for n in notes]
    if row.items:
        resource["component"] = [
            {
                "code": {
                    "coding": [{"system": MEASURE_ITEM, "code": f"{measure.code}-{i + 1}"}],
                    "text": label,
                },
                "valueInteger": score,
            }
            for i, (label, score) in enumerate(zip(measure.items, row.items, strict=True))
        ]
    return resource


def searchset(
    entries: Sequence[tuple[str, Resource, str]], *, total: int, links: Mapping[str, str]
) -> Resource:
    """A searchset Bundle: ``entries`` are (fullUrl, resource, "match" | "include")."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": [{"relation": rel, "url": url} for rel, url in links.items()],
        "entry": [{"fullUrl": url, "resource": res, "search": {"mode": mode}} for url, res, mode in entries],
    }


def operation_outcome(issues: Sequence[tuple[str, str, str | None]]) -> Resource:
    """An OperationOutcome: each issue (code, diagnostics, expression or None); error severity."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            _drop_empty(
                {
                    "severity": "error",
                    "code": code,
                    "diagnostics": text,
                    "expression": [where] if where else [],
                }
            )
            for code, text, where in issues
        ],
    }


def record_resources(record: Record, people: Sequence[Identity], *, mrn_system: str) -> list[Resource]:
    """A patient's record as resources, in the order $everything lists them: the patient, her care team,
    each plan with its goals and tasks, referrals, messages, scores, then the clinicians they refer to."""
    found = [
        patient(record.patient, version=record.patient_version, mrn_system=mrn_system),
        care_team(record.team),
    ]
    patient_id = record.patient.id
    for board in record.boards:
        goals = [g.id for g in board.goals]
        tasks = [t.id for t in board.tasks]
        found.append(care_plan(board.plan, team_id=record.team.id, goal_ids=goals, task_ids=tasks))
        found.extend(goal(g, patient_id=patient_id) for g in board.goals)
        found.extend(task(t, patient_id=patient_id) for t in board.tasks)
    found.extend(service_request(r) for r in record.referrals)
    found.extend(communication(m, patient_id=patient_id) for m in record.messages)
    found.extend(observation(o) for o in record.observations)
    for resource in found:
        at = record.updated.get(f"{resource['resourceType']}/{resource['id']}")
        if at is not None:
            resource["meta"]["lastUpdated"] = instant(at)
    found.extend(practitioner(p) for p in people)
    return found


def version_of(kind: str, public: Any, current: Resource) -> Resource:
    """An earlier version of ``current`` from the public shape its event carried. A plan's earlier versions
    list no goals or activities (what it held then is not kept)."""
    patient_id = int(subject_of(current).split("/")[1])
    match kind:
        case "CarePlan":
            team = current.get("careTeam", [{}])[0].get("reference", "CareTeam/0")
            return care_plan(public, team_id=int(team.split("/")[1]), goal_ids=[], task_ids=[])
        case "Goal":
            return goal(public, patient_id=patient_id)
        case "Task":
            return task(public, patient_id=patient_id)
        case "ServiceRequest":
            return service_request(public)
        case "Communication":
            return communication(public, patient_id=patient_id)
        case _:
            return observation(public)


def subject_of(resource: Resource) -> str:
    """The patient a resource is about, as a reference."""
    for key in ("subject", "for"):
        if key in resource:
            return str(resource[key]["reference"])
    return f"Patient/{resource['id']}"  # a Patient is its own subject


def history(entries: Sequence[tuple[Resource, str]], *, base: str) -> Resource:
    """A history Bundle, newest first: each version with the request that made it and when."""
    out = []
    for resource, when in entries:
        version = resource["meta"]["versionId"]
        path = f"{resource['resourceType']}/{resource['id']}"
        out.append(
            {
                "fullUrl": f"{base}{path}",
                "resource": resource,
                "request": {"method": "POST" if version == "1" else "PUT", "url": path},
                "response": {"status": "201 Created" if version == "1" else "200 OK", "lastModified": when}
                if when
                else {"status": "200 OK"},
            }
        )
    return {"resourceType": "Bundle", "type": "history", "total": len(out), "entry": out}


# The audit trail's actions as AuditEvent.action (C, R, U, D, E) and their interaction.
_ACTIONS = {"create": "C", "read": "R", "update": "U", "delete": "D", "login": "E", "logout": "E"}


def audit_event(row: AuditEntryPublic) -> Resource:
    """An entry of the audit trail: who (``agent``), did what (``action``, a RESTful interaction or a
    sign-in), to which patient's data (``entity``), when, with what outcome (0 success, 4 refused)."""
    signing = row.action.value in ("login", "logout")
    kind = (
        {"system": DICOM, "code": "110114", "display": "User Authentication"}
        if signing
        else {"system": AUDIT_TYPE, "code": "rest", "display": "RESTful Operation"}
    )
    agent: Resource = {"requestor": True}
    if row.user_id is not None:
        agent["who"] = ref("Practitioner", row.user_id)
    if row.client_ip:
        agent["network"] = {"address": row.client_ip, "type": "2"}
    entities: list[Resource] = []
    if row.patient_id is not None:
        entities.append({"what": ref("Patient", row.patient_id)})
    if row.resource_id is not None:
        entities.append(
            {"what": {"identifier": {"system": AUDITED, "value": f"{row.resource_type}/{row.resource_id}"}}}
        )
    return _drop_empty(
        {
            "resourceType": "AuditEvent",
            "id": str(row.id),
            "meta": _meta(1),  # written once, never changed
            "type": kind,
            "subtype": [] if signing else [{"system": RESTFUL, "code": row.action.value}],
            "action": _ACTIONS[row.action.value],
            "recorded": instant(row.at),
            "outcome": "0" if row.outcome == "success" else "4",
            "outcomeDesc": None if row.outcome == "success" else row.outcome,
            "agent": [agent],
            "source": {"observer": {"display": "careteam"}},
            "entity": entities,
        }
    )
