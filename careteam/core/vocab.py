"""Vocabularies several features use: disciplines and clinic-wide roles (imports nothing of careteam)."""

from __future__ import annotations

from enum import StrEnum


class Discipline(StrEnum):
    physician = "physician"
    ipm_lead = "ipm_lead"
    psychologist = "psychologist"
    nurse = "nurse"
    physical_therapist = "physical_therapist"
    occupational_therapist = "occupational_therapist"
    pharmacist = "pharmacist"
    social_worker = "social_worker"


DISCIPLINE_LABELS: dict[Discipline, str] = {
    Discipline.physician: "Physician",
    Discipline.ipm_lead: "IPM lead",
    Discipline.psychologist: "Psychology",
    Discipline.nurse: "Nursing",
    Discipline.physical_therapist: "Physical therapy",
    Discipline.occupational_therapist: "Occupational therapy",
    Discipline.pharmacist: "Pharmacy",
    Discipline.social_worker: "Social work",
}


class ClinicRole(StrEnum):
    admin = "admin"
    clinician = "clinician"
    # The EMR's interface engine: a bearer token, no browser sign-in, the FHIR API only, and only for the
    # patients it registered or a lead shared with it (docs/fhir.md).
    integration = "integration"
