"""FHIR R4 at ``/fhir/R4``: the CapabilityStatement, read and search for each supported type, and
``Patient/{id}/$everything``. Every answer is ``application/fhir+json``; every error an OperationOutcome.

Not in /openapi.json: an EMR's contract is ``/fhir/R4/metadata``, built from ``codes.RESOURCES`` (and the
tests check each type it lists answers read and search).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException

from careteam import __version__
from careteam.audit import service as audit
from careteam.audit.schemas import AuditEntryPublic
from careteam.core.actor import Actor
from careteam.core.errors import DomainError, NotFound, ValidationFailed
from careteam.fhir import inbound, mapping
from careteam.fhir import service as fhir
from careteam.fhir.codes import BY_TYPE, COUNT_DOC, FHIR_JSON, FHIR_VERSION, RESOURCES, Supported
from careteam.fhir.inbound import Invalid
from careteam.fhir.mapping import Resource
from careteam.fhir.service import EntryFailed
from careteam.patients import service as patients
from careteam.patients.schemas import PatientPublic
from careteam.referrals import service as referrals_service
from careteam.referrals.routes import respond_within
from careteam.web.deps import CurrentActor, Now, SessionDep, SettingsDep, if_match
from careteam.web.problems import error_kind

# FHIR issue-type codes for the statuses an error answers with.
_ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    412: "conflict",
    422: "invalid",
    428: "required",
    429: "throttled",
}
COUNT_DEFAULT = 50
COUNT_MAX = 100
# What a search takes besides its type's parameters.
_PAGING = frozenset({"_count", "_offset", "_format"})
_INCLUDES: dict[str, dict[str, tuple[str, ...]]] = {
    "CarePlan": {"CarePlan:activity": ("Task",)},
    "Task": {
        "Task:based-on": ("CarePlan", "ServiceRequest"),
        "Task:based-on:ServiceRequest": ("ServiceRequest",),
    },
}
_ID = re.compile(r"^[0-9]{1,10}$")
_REFERENCE = re.compile(r"^(?:Patient/)?([0-9]{1,10})$")


def fhir_json(resource: Resource, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(resource), status_code=status, media_type=FHIR_JSON, headers=headers)


def outcome(
    status: int, text: str, where: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    issue = (_ISSUE_CODES.get(status, "processing"), text, where)
    return fhir_json(mapping.operation_outcome([issue]), status, headers)


def _validation_outcome(exc: RequestValidationError) -> Response:
    issues = [
        ("invalid", str(e.get("msg", "invalid")), ".".join(str(p) for p in e.get("loc", ())[1:]) or None)
        for e in exc.errors()
    ]
    return fhir_json(mapping.operation_outcome(issues), 400)


def _invalid_outcome(exc: Invalid, prefix: str = "") -> Response:
    issues = [
        (_ISSUE_CODES.get(exc.status, "invalid"), what, prefix + where if where else prefix or None)
        for where, what in exc.issues
    ]
    return fhir_json(mapping.operation_outcome(issues), exc.status)


def _entry_outcome(exc: EntryFailed) -> Response:
    """A transaction entry refused: located in the bundle (nothing of it was stored)."""
    where = f"Bundle.entry[{exc.index}].resource."
    if isinstance(exc.cause, Invalid):
        return _invalid_outcome(exc.cause, where)
    if isinstance(exc.cause, DomainError):
        status = error_kind(exc.cause).status
        return outcome(status, exc.cause.detail, f"Bundle.entry[{exc.index}]")
    raise exc.cause


class FhirRoute(APIRoute):
    """A route whose errors are OperationOutcomes (the app's handlers answer problem+json elsewhere)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handle(request)
            except DomainError as exc:
                status = error_kind(exc).status
                where = exc.field if isinstance(exc, ValidationFailed) else None
                if where is not None and request.method == "GET":
                    status = 400  # a search parameter FHIR's way: 400 (422 is for a resource sent)
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                return outcome(status, exc.detail, where, headers)
            except Invalid as exc:
                return _invalid_outcome(exc)
            except EntryFailed as exc:
                return _entry_outcome(exc)
            except IntegrityError:
                return outcome(409, "A concurrent request changed the same resource first; retry.")
            except RequestValidationError as exc:
                return _validation_outcome(exc)
            except HTTPException as exc:
                return outcome(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}) or None)

        return route


router = APIRouter(prefix="/fhir/R4", route_class=FhirRoute, include_in_schema=False)


def _base(request: Request) -> str:
    return f"{request.base_url}fhir/R4/"


def _supported(kind: str) -> Supported:
    found = BY_TYPE.get(kind)
    if found is None:
        raise NotFound(f"This server does not support the resource type {kind!r}.")
    return found


def _id(raw: str, kind: str) -> int:
    if not _ID.match(raw) or int(raw) >= 2**31:
        raise NotFound(f"No such {kind}.")
    return int(raw)


@router.get("/metadata")
async def metadata(request: Request) -> Response:
    """What this server supports, built from ``codes.RESOURCES``: read and search-type for each type, its
    search parameters and includes, and Patient/$everything."""
    resources = []
    for r in RESOURCES:
        entry: dict[str, Any] = {
            "type": r.type,
            "interaction": [{"code": code} for code in r.interactions],
            "searchParam": [{"name": p.name, "type": p.type, "documentation": p.doc} for p in r.search]
            + [{"name": "_count", "type": "number", "documentation": COUNT_DOC}],
        }
        if r.type in _INCLUDES:
            entry["searchInclude"] = sorted(_INCLUDES[r.type])
        if r.operations:
            entry["operation"] = [
                {"name": op, "definition": f"http://hl7.org/fhir/OperationDefinition/{r.type}-{op}"}
                for op in r.operations
            ]
        resources.append(entry)
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date.today().isoformat(),
        "publisher": "careteam",
        "kind": "instance",
        "software": {"name": "careteam", "version": __version__},
        "implementation": {"description": "careteam care-team coordination", "url": _base(request)},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "A bearer token from POST /api/v1/sessions/token (or the browser's "
                    "session); each resource is visible to its patient's care team only."
                },
                "resource": resources,
                "interaction": [{"code": "transaction"}],
            }
        ],
    }
    return fhir_json(statement)


@router.get("/Patient/{ident}/$everything")
async def everything(
    ident: str, request: Request, actor: CurrentActor, session: SessionDep, settings: SettingsDep
) -> Response:
    """The patient's whole record the actor may read, as one searchset Bundle (not paged)."""
    record = await fhir.patient_record(session, _id(ident, "Patient"), actor=actor)
    people = await fhir.practitioners(session, record.user_ids())
    found = mapping.record_resources(record, people, mrn_system=settings.fhir_mrn_system)
    base = _base(request)
    entries = [(f"{base}{r['resourceType']}/{r['id']}", r, "match") for r in found]
    return fhir_json(mapping.searchset(entries, total=len(entries), links={"self": str(request.url)}))


@router.get("/{kind}/{ident}/_history")
async def history(
    kind: str, ident: str, request: Request, actor: CurrentActor, session: SessionDep, settings: SettingsDep
) -> Response:
    """Every version of a resource still in its plan's event log (within its retention), newest first; a
    Patient, Practitioner or CareTeam: its current version."""
    found = await _versions(kind, ident, session, actor, settings.fhir_mrn_system)
    return fhir_json(mapping.history(list(reversed(found)), base=_base(request)))


@router.get("/{kind}/{ident}/_history/{vid}")
async def vread(
    kind: str, ident: str, vid: str, actor: CurrentActor, session: SessionDep, settings: SettingsDep
) -> Response:
    """One version of a resource (vread); not found once the log no longer holds it."""
    for resource, _ in await _versions(kind, ident, session, actor, settings.fhir_mrn_system):
        if resource["meta"]["versionId"] == vid:
            return fhir_json(resource, headers={"ETag": f'W/"{vid}"'})
    raise NotFound(f"No version {vid} of this {kind} is kept.")


async def _versions(
    kind: str, ident: str, session: Any, actor: Actor, mrn_system: str
) -> list[tuple[Resource, str]]:
    """(resource, when) for each version kept, oldest first; the current one as read (checked, audited)."""
    _supported(kind)
    current = await _read(kind, _id(ident, kind), session, actor, mrn_system)
    if not fhir.has_history(kind):
        return [(current, current.get("meta", {}).get("lastUpdated", ""))]
    plan_id = await fhir.plan_of(session, kind, current, actor=actor)
    kept = await fhir.versions(session, kind, plan_id, int(current["id"]))
    found = [
        (mapping.version_of(kind, v.public, current), mapping.instant(v.at))
        for v in kept
        if str(v.number) != current["meta"]["versionId"]
    ]
    last = next((mapping.instant(v.at) for v in kept if str(v.number) == current["meta"]["versionId"]), "")
    return [*found, (current, last)]


@router.get("/{kind}/{ident}")
async def read(
    kind: str, ident: str, actor: CurrentActor, session: SessionDep, settings: SettingsDep
) -> Response:
    """One resource by id; not found unless the actor may read it."""
    _supported(kind)
    resource = await _read(kind, _id(ident, kind), session, actor, settings.fhir_mrn_system)
    return fhir_json(
        resource, headers={"ETag": f'W/"{resource["meta"]["versionId"]}"'} if "meta" in resource else None
    )


async def _read(kind: str, ident: int, session: Any, actor: Actor, mrn_system: str) -> Resource:
    match kind:
        case "Patient":
            row = await patients.get_patient(session, ident, actor=actor)
            return mapping.patient(
                PatientPublic.model_validate(row), version=row.version, mrn_system=mrn_system
            )
        case "Practitioner":
            people = await fhir.practitioners(session, [ident])
            if not people:
                raise NotFound("No such Practitioner.")
            return mapping.practitioner(people[0])
        case "CareTeam":
            return mapping.care_team(await fhir.team_record(session, ident, actor=actor))
        case "CarePlan":
            board, team_id = await fhir.plan_board(session, ident, actor=actor)
            return mapping.care_plan(
                board.plan,
                team_id=team_id,
                goal_ids=[g.id for g in board.goals],
                task_ids=[t.id for t in board.tasks],
            )
        case "Goal":
            board = await fhir.goal_board(session, ident, actor=actor)
            goal = next(g for g in board.goals if g.id == ident)
            return mapping.goal(goal, patient_id=board.patient.id)
        case "Task":
            task, patient_id = await fhir.task_record(session, ident, actor=actor)
            return mapping.task(task, patient_id=patient_id)
        case "ServiceRequest":
            return mapping.service_request(await fhir.referral_record(session, ident, actor=actor))
        case "Communication":
            message, patient_id = await fhir.message_record(session, ident, actor=actor)
            return mapping.communication(message, patient_id=patient_id)
        case "AuditEvent":
            entry = await audit.get_entry(session, ident, actor=actor)
            return mapping.audit_event(AuditEntryPublic.model_validate(entry))
        case _:
            return mapping.observation(await fhir.observation_record(session, ident, actor=actor))


def _tokens(raw: str) -> set[str]:
    return {t.strip() for t in raw.split(",") if t.strip()}


def _code_matches(resource: Resource, wanted: set[str]) -> bool:
    for coding in resource.get("code", {}).get("coding", []):
        if coding["code"] in wanted or f"{coding['system']}|{coding['code']}" in wanted:
            return True
    return False


def _filter(resource: Resource, name: str, raw: str) -> bool:
    """Whether a resource of the patient's record matches one search parameter."""
    wanted = _tokens(raw)
    match name:
        case "_id":
            return resource["id"] in wanted
        case "status":
            return resource.get("status") in wanted
        case "lifecycle-status":
            return resource.get("lifecycleStatus") in wanted
        case "code":
            return _code_matches(resource, wanted)
        case "_lastUpdated":
            return all(_updated_within(resource, bound) for bound in raw.split(","))
        case "category":
            return any(_code_matches({"code": c}, wanted) for c in resource.get("category", []))
        case _:  # patient, subject: the record is the patient's already
            return True


_DATE = re.compile(
    r"^(eq|ne|gt|lt|ge|le)?(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2}))?$"
)


def _updated_within(resource: Resource, bound: str) -> bool:
    """Whether the resource's meta.lastUpdated meets one ``_lastUpdated`` bound: a day (the whole day, UTC)
    or an instant, with its prefix; a resource with no lastUpdated meets none."""
    found = _DATE.match(bound.strip())
    if found is None:
        raise ValidationFailed(
            "_lastUpdated must be a date or an instant with its offset, e.g. ge2026-12-01 or "
            "lt2026-12-02T09:00:00Z.",
            field="_lastUpdated",
        )
    last = resource.get("meta", {}).get("lastUpdated")
    if last is None:
        return False
    at = datetime.fromisoformat(last.replace("Z", "+00:00"))
    prefix, day, time = found.group(1) or "eq", found.group(2), found.group(3)
    try:
        low = datetime.fromisoformat(f"{day}{(time or 'T00:00:00Z').replace('Z', '+00:00')}")
    except ValueError:
        raise ValidationFailed("_lastUpdated names no such day or time.", field="_lastUpdated") from None
    high = low + (timedelta(days=1) if time is None else timedelta(0))
    within = low <= at < high if time is None else at == low
    match prefix:
        case "eq":
            return within
        case "ne":
            return not within
        case "gt":
            return at >= high if time is None else at > low
        case "ge":
            return at >= low
        case "lt":
            return at < low
        case _:  # le
            return at < high if time is None else at <= low


def _int_param(params: dict[str, str], name: str, default: int, most: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) > most:
        raise ValidationFailed(f"{name} must be a whole number from 0 to {most}.", field=name)
    return int(raw)


def _patient_of(kind: str, params: dict[str, str]) -> int | None:
    raw = params.get("patient") or params.get("subject")
    if raw is None:
        return None
    found = _REFERENCE.match(raw)
    if found is None or int(found.group(1)) >= 2**31:
        raise ValidationFailed("patient must be a Patient reference: Patient/123 or 123.", field="patient")
    return int(found.group(1))


@router.get("/{kind}")
async def search(
    kind: str, request: Request, actor: CurrentActor, session: SessionDep, settings: SettingsDep
) -> Response:
    """A searchset Bundle of the type's resources the actor may read that match every parameter given;
    clinical types are searched within one patient (``patient``/``subject``) or by ``_id``."""
    supported = _supported(kind)
    params: dict[str, str] = {}
    includes: list[str] = []
    allowed = {p.name for p in supported.search} | _PAGING
    for name, value in request.query_params.multi_items():
        if name == "_include" and value in _INCLUDES.get(kind, {}):
            includes.append(value)
        elif name not in allowed:
            raise ValidationFailed(
                f"This server does not support the search parameter {name!r} on {kind}.", field=name
            )
        elif name == "_lastUpdated":
            params[name] = f"{params[name]},{value}" if name in params else value  # both bounds hold
        elif name in params:
            raise ValidationFailed(f"Give {name} once (several values: comma-separated).", field=name)
        else:
            params[name] = value
    for bound in params.get("_lastUpdated", "").split(",") if "_lastUpdated" in params else ():
        _updated_within({}, bound)  # refuses a bound that is no date before any resource is read
    count = _int_param(params, "_count", COUNT_DEFAULT, COUNT_MAX)
    offset = _int_param(params, "_offset", 0, 2**31 - 1)
    base = _base(request)
    included: list[Resource] = []
    if kind == "AuditEvent":
        page, total = await _audit_page(params, session, actor, offset=offset, count=count)
    else:
        matches, included = await _matches(kind, params, includes, session, actor, settings.fhir_mrn_system)
        page, total = matches[offset : offset + count], len(matches)
    entries = [(f"{base}{kind}/{r['id']}", r, "match") for r in page]
    if page:
        entries += [
            (f"{base}{r['resourceType']}/{r['id']}", r, "include")
            for r in _included(page, included, includes)
        ]
    links = {"self": str(request.url)}
    if count and offset + count < total:  # _count=0 asks for the total alone
        links["next"] = str(request.url.include_query_params(_offset=offset + count, _count=count))
    return fhir_json(mapping.searchset(entries, total=total, links=links))


async def _audit_page(
    params: dict[str, str], session: Any, actor: Actor, *, offset: int, count: int
) -> tuple[list[Resource], int]:
    """A page of the audit trail, newest first (administrators), by patient or agent or one _id."""
    if "_id" in params:
        try:
            return [await _read("AuditEvent", _id(params["_id"], "AuditEvent"), session, actor, "")], 1
        except NotFound:
            return [], 0
    agent = params.get("agent")
    agent_id = None
    if agent is not None:
        found = re.match(r"^(?:Practitioner/)?([0-9]{1,10})$", agent)
        if found is None or int(found.group(1)) >= 2**31:
            raise ValidationFailed(
                "agent must be a Practitioner reference: Practitioner/123 or 123.", field="agent"
            )
        agent_id = int(found.group(1))
    rows, total = await audit.list_entries(
        session,
        actor=actor,
        patient_id=_patient_of("AuditEvent", params),
        user_id=agent_id,
        offset=offset,
        limit=count,
    )
    return [mapping.audit_event(AuditEntryPublic.model_validate(r)) for r in rows], total


async def _matches(
    kind: str, params: dict[str, str], includes: Sequence[str], session: Any, actor: Actor, mrn_system: str
) -> tuple[list[Resource], list[Resource]]:
    """Every match (and the resources an include may add), in id order."""
    ids = _tokens(params["_id"]) if "_id" in params else None
    if kind in ("Patient", "Practitioner"):
        return await _directory_matches(kind, params, ids, session, actor, mrn_system), []
    patient_id = _patient_of(kind, params)
    if patient_id is None:
        if ids is None or len(ids) != 1 or not _ID.match(next(iter(ids))):
            raise ValidationFailed(
                f"Search {kind} within one patient (patient=123) or by one _id.", field="patient"
            )
        try:
            resource = await _read(kind, _id(next(iter(ids)), kind), session, actor, mrn_system)
        except NotFound:
            return [], []
        patient_id = int(mapping.subject_of(resource).removeprefix("Patient/"))
    try:
        record = await fhir.patient_record(session, patient_id, actor=actor)
    except NotFound:
        return [], []
    people = await fhir.practitioners(session, record.user_ids()) if includes else []
    everything = mapping.record_resources(record, people, mrn_system=mrn_system)
    found = [
        r
        for r in everything
        if r["resourceType"] == kind
        and all(_filter(r, name, raw) for name, raw in params.items() if name not in _PAGING)
    ]
    return found, everything


async def _directory_matches(
    kind: str, params: dict[str, str], ids: set[str] | None, session: Any, actor: Actor, mrn_system: str
) -> list[Resource]:
    """Patients the actor may see (by _id or MRN), or clinicians by _id."""
    if kind == "Practitioner":
        if ids is None:
            raise ValidationFailed("Search Practitioner by _id.", field="_id")
        people = await fhir.practitioners(session, (int(i) for i in ids if _ID.match(i) and int(i) < 2**31))
        return [mapping.practitioner(p) for p in people]
    identifier = params.get("identifier")
    system, _, value = identifier.rpartition("|") if identifier is not None else ("", "", "")
    if identifier is not None and system and system != mrn_system:
        return []
    rows, _ = await patients.list_patients(session, actor=actor, q=value or None, limit=1000)
    found = [
        mapping.patient(PatientPublic.model_validate(p), version=p.version, mrn_system=mrn_system)
        for p in rows
    ]
    return sorted(
        (
            r
            for r in found
            if (ids is None or r["id"] in ids)
            and (identifier is None or r["identifier"][0]["value"] == value)
        ),
        key=lambda r: int(r["id"]),
    )


def _included(
    page: Sequence[Resource], everything: Sequence[Resource], includes: Sequence[str]
) -> list[Resource]:
    """The resources the page's matches refer to through the requested includes."""
    wanted: set[str] = set()
    for r in page:
        for include in includes:
            targets = _INCLUDES[r["resourceType"]][include]
            refs = (
                [a["reference"]["reference"] for a in r.get("activity", [])]
                if include == "CarePlan:activity"
                else [b["reference"] for b in r.get("basedOn", [])]
            )
            wanted.update(ref for ref in refs if ref.split("/")[0] in targets)
    return [r for r in everything if f"{r['resourceType']}/{r['id']}" in wanted]


# --- Writes -------------------------------------------------------------------------------------------

_CONDITION = re.compile(r"^identifier=(?:(?P<system>[^|]*)\|)?(?P<value>.+)$")


def _written(request: Request, resource: Resource, status: int) -> Response:
    """A write's answer, as ``Prefer: return=`` asks: the resource (representation, the default), nothing
    (minimal) or an OperationOutcome; always Location and ETag."""
    version = resource["meta"]["versionId"]
    headers = {
        "Location": f"{_base(request)}{resource['resourceType']}/{resource['id']}/_history/{version}",
        "ETag": f'W/"{version}"',
    }
    prefer = request.headers.get("prefer", "")
    if "return=minimal" in prefer:
        return Response(status_code=status, headers=headers)
    if "return=OperationOutcome" in prefer:
        info = {"severity": "information", "code": "informational", "diagnostics": "Done."}
        return fhir_json({"resourceType": "OperationOutcome", "issue": [info]}, status, headers)
    return fhir_json(resource, status, headers)


def _condition(request: Request, kind: str) -> tuple[str, str] | None:
    """``If-None-Exist: identifier=system|value`` (conditional create): the identifier to look for."""
    raw = request.headers.get("if-none-exist")
    if raw is None:
        return None
    found = _CONDITION.match(raw.strip())
    if found is None:
        raise Invalid([("If-None-Exist", f"Search {kind} by identifier=system|value only.")], status=400)
    return found.group("system") or "", found.group("value")


def _check_id(resource: Resource, ident: int) -> None:
    if "id" in resource and resource["id"] != str(ident):
        kind = resource["resourceType"]
        raise Invalid([(f"{kind}.id", f"The resource's id must be {ident}, as in the URL.")], status=400)


@router.post("")
async def transaction(
    request: Request, actor: CurrentActor, session: SessionDep, settings: SettingsDep, now: Now
) -> Response:
    """A transaction Bundle: a patient with her care team, plans, goals, referrals and tasks imported in
    one unit of work (the EMR's interface account); all or nothing."""
    bundle = inbound.parse(await request.body(), "Bundle")
    if bundle.get("type") != "transaction":
        raise Invalid([("Bundle.type", "This server takes Bundles of type transaction.")], status=400)
    done = await fhir.import_bundle(
        session,
        bundle,
        actor=actor,
        now=now,
        respond_within=respond_within(request),
        mrn_system=settings.fhir_mrn_system,
    )
    entries = [
        {
            "response": {
                "status": "201 Created" if d.created else "200 OK",
                "location": f"{d.kind}/{d.id}/_history/{d.version}",
                "etag": f'W/"{d.version}"',
            }
        }
        for d in done
    ]
    return fhir_json({"resourceType": "Bundle", "type": "transaction-response", "entry": entries})


@router.post("/{kind}")
async def create(
    kind: str, request: Request, actor: CurrentActor, session: SessionDep, settings: SettingsDep, now: Now
) -> Response:
    """Create a Patient (registering her) or a ServiceRequest (a referral); ``If-None-Exist`` on the
    identifier answers the one that exists instead (a retried EMR message creates nothing twice)."""
    if not _supported(kind).create:
        raise HTTPException(405, f"This server does not create {kind} resources.")
    resource = inbound.parse(await request.body(), kind)
    condition = _condition(request, kind)
    mrn_system = settings.fhir_mrn_system
    if kind == "Patient":
        data = inbound.patient(resource, mrn_system=mrn_system)
        if condition is not None and condition[0] in ("", mrn_system):
            existing = await fhir.patient_by_mrn(session, condition[1], actor=actor)
            if existing is not None:
                return _written(
                    request, mapping.patient(existing[0], version=existing[1], mrn_system=mrn_system), 200
                )
        patient, version = await fhir.create_patient(session, data, actor=actor)
        return _written(request, mapping.patient(patient, version=version, mrn_system=mrn_system), 201)
    referral_in = inbound.service_request(resource)
    if condition is not None:
        found = await referrals_service.find_by_identifier(session, condition[0], condition[1], actor=actor)
        if found is not None:
            return _written(request, mapping.service_request(found), 200)
    referral = await fhir.create_referral(
        session, referral_in, actor=actor, now=now, respond_within=respond_within(request)
    )
    return _written(request, mapping.service_request(referral), 201)


@router.put("/{kind}/{ident}")
async def update(
    kind: str,
    ident: str,
    request: Request,
    actor: CurrentActor,
    session: SessionDep,
    settings: SettingsDep,
    now: Now,
) -> Response:
    """Update a Patient (name, birth date), a ServiceRequest (what its requester may change) or a Task
    (status, statusReason, priority, owner), with If-Match: 428 without it, 412 if someone changed it."""
    if not _supported(kind).update:
        raise HTTPException(405, f"This server does not update {kind} resources.")
    resource_id = _id(ident, kind)
    # The JSON API's own If-Match reading: 428 without it, 400 (naming If-Match) if it does not parse.
    version = await if_match(request.headers.get("if-match"))
    resource = inbound.parse(await request.body(), kind)
    _check_id(resource, resource_id)
    mrn_system = settings.fhir_mrn_system
    if kind == "Patient":
        data = inbound.patient(resource, mrn_system=mrn_system)
        patient, new = await fhir.update_patient(
            session, resource_id, data, expected_version=version, actor=actor
        )
        return _written(request, mapping.patient(patient, version=new, mrn_system=mrn_system), 200)
    if kind == "ServiceRequest":
        referral = await fhir.update_referral(
            session,
            resource_id,
            inbound.service_request(resource),
            expected_version=version,
            actor=actor,
            now=now,
        )
        return _written(request, mapping.service_request(referral), 200)
    task, patient_id = await fhir.update_task(
        session, resource_id, inbound.task_change(resource), expected_version=version, actor=actor, now=now
    )
    return _written(request, mapping.task(task, patient_id=patient_id), 200)
