"""FHIR systems and value-set maps: the clinic's disciplines as SNOMED CT roles (a local system for the roles
SNOMED lacks), the board's columns as Task.businessStatus, and what the facade supports (the
CapabilityStatement is built from ``RESOURCES``)."""

from __future__ import annotations

from dataclasses import dataclass

from careteam.core.vocab import DISCIPLINE_LABELS, Discipline

FHIR_VERSION = "4.0.1"
FHIR_JSON = "application/fhir+json"

SNOMED = "http://snomed.info/sct"
# The clinic's own code systems, for what no standard system codes (named as URNs: no host to resolve).
LOCAL_ROLE = "urn:careteam:fhir:care-team-role"
BOARD_COLUMN = "urn:careteam:fhir:board-column"
REFERRAL_REASON = "urn:careteam:fhir:referral-reason"
USERNAME = "urn:careteam:fhir:username"
MEASURE_ITEM = "urn:careteam:fhir:measure-item"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
UCUM = "http://unitsofmeasure.org"
AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
AUDITED = "urn:careteam:fhir:audited-resource"  # what an entry is about: "task/12", "care_plan/4"


@dataclass(frozen=True, slots=True)
class Role:
    system: str
    code: str
    display: str


# CareTeam.participant.role and Task/ServiceRequest.performerType: SNOMED CT occupations where SNOMED has
# them; the IPM lead (a function in this clinic, not an occupation) in the local system.
ROLES: dict[Discipline, Role] = {
    Discipline.physician: Role(SNOMED, "309343006", "Physician"),
    Discipline.ipm_lead: Role(LOCAL_ROLE, "ipm-lead", "Interventional pain management lead"),
    Discipline.psychologist: Role(SNOMED, "59944000", "Psychologist"),
    Discipline.nurse: Role(SNOMED, "106292003", "Professional nurse"),
    Discipline.physical_therapist: Role(SNOMED, "36682004", "Physiotherapist"),
    Discipline.occupational_therapist: Role(SNOMED, "80546007", "Occupational therapist"),
    Discipline.pharmacist: Role(SNOMED, "46255001", "Pharmacist"),
    Discipline.social_worker: Role(SNOMED, "106328005", "Social worker"),
}
# The care team's lead, as a second role of her participation (SNOMED has no "team lead").
TEAM_LEAD = Role(LOCAL_ROLE, "team-lead", "Care team lead")


def role_concept(discipline: Discipline) -> dict[str, object]:
    role = ROLES[discipline]
    coding = {"system": role.system, "code": role.code, "display": role.display}
    return {"coding": [coding], "text": DISCIPLINE_LABELS[discipline]}


@dataclass(frozen=True, slots=True)
class SearchParam:
    name: str
    type: str  # FHIR search-param-type
    doc: str


_ID = SearchParam("_id", "token", "The resource's id")
_COUNT_DOC = "Page size (_count, at most 100); the Bundle's next link asks for the following page"
_PATIENT = SearchParam("patient", "reference", "The patient (Patient/123 or 123)")
_SUBJECT = SearchParam("subject", "reference", "The patient (Patient/123 or 123)")
_STATUS = SearchParam("status", "token", "The resource's status")
# When it last changed (meta.lastUpdated, from its plan's log): ge2026-12-01, lt2026-12-02T09:00:00Z...; given
# twice, both hold (a range).
_UPDATED = SearchParam("_lastUpdated", "date", "When it last changed, with a prefix (ge, gt, le, lt, eq, ne)")


@dataclass(frozen=True, slots=True)
class Supported:
    """One resource type: its search parameters (besides _count), operations, and whether it is created
    (POST) and updated (PUT) here; every type is read and searched."""

    type: str
    search: tuple[SearchParam, ...]
    operations: tuple[str, ...] = ()
    create: bool = False
    update: bool = False

    @property
    def interactions(self) -> list[str]:
        return (
            ["read", "vread", "history-instance", "search-type"]
            + ["create"] * self.create
            + ["update"] * self.update
        )


RESOURCES: tuple[Supported, ...] = (
    Supported(
        "Patient",
        (_ID, SearchParam("identifier", "token", "The MRN (system|value or value)")),
        ("everything",),
        create=True,
        update=True,
    ),
    Supported("Practitioner", (_ID,)),
    Supported("CareTeam", (_ID, _PATIENT, _SUBJECT, _STATUS)),
    Supported("CarePlan", (_ID, _UPDATED, _PATIENT, _SUBJECT, _STATUS)),
    Supported(
        "Goal",
        (_ID, _UPDATED, _PATIENT, _SUBJECT, SearchParam("lifecycle-status", "token", "Goal.lifecycleStatus")),
    ),
    Supported("Task", (_ID, _UPDATED, _PATIENT, _STATUS), update=True),
    Supported("ServiceRequest", (_ID, _UPDATED, _PATIENT, _SUBJECT, _STATUS), create=True, update=True),
    Supported("Communication", (_ID, _UPDATED, _PATIENT, _SUBJECT, _STATUS)),
    Supported(
        "AuditEvent",
        (_ID, _PATIENT, SearchParam("agent", "reference", "Who acted (Practitioner/123)")),
    ),
    Supported(
        "Observation",
        (
            _ID,
            _UPDATED,
            _PATIENT,
            _SUBJECT,
            _STATUS,
            SearchParam("code", "token", "The measure's code (system|code or code)"),
            SearchParam("category", "token", "The observation's category: survey (every outcome measure)"),
        ),
    ),
)
BY_TYPE = {r.type: r for r in RESOURCES}
COUNT_DOC = _COUNT_DOC
