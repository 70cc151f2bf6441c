"""Vocabularies several features use: disciplines, clinic-wide roles, outcome measures' codes and a goal's
comparators (imports nothing of careteam)."""

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


class Measure(StrEnum):
    """The outcome measures a plan records (outcomes) and a goal may be judged by (plans): their codes in
    the API. What each is (its coding, items, bands) is outcomes' vocabulary (``outcomes.codes.MEASURES``)."""

    nrs = "nrs"
    peg = "peg"
    phq9 = "phq9"
    gad7 = "gad7"
    odi = "odi"


# Each measure's short name and range, as a goal's target says it ("PEG <= 4"): whole range inclusive.
MEASURE_NAMES: dict[Measure, str] = {
    Measure.nrs: "NRS",
    Measure.peg: "PEG",
    Measure.phq9: "PHQ-9",
    Measure.gad7: "GAD-7",
    Measure.odi: "ODI",
}
MEASURE_RANGES: dict[Measure, tuple[int, int]] = {
    Measure.nrs: (0, 10),
    Measure.peg: (0, 10),
    Measure.phq9: (0, 27),
    Measure.gad7: (0, 21),
    Measure.odi: (0, 100),
}


class Comparator(StrEnum):
    """How a goal's target compares the latest score with its value (FHIR Quantity.comparator's symbols)."""

    lt = "<"
    le = "<="
    ge = ">="
    gt = ">"

    def met(self, score: float, value: float) -> bool:
        """Whether ``score`` meets a target of ``self value``."""
        if self is Comparator.lt:
            return score < value
        if self is Comparator.le:
            return score <= value
        if self is Comparator.ge:
            return score >= value
        return score > value

    @property
    def lower_is_better(self) -> bool:
        return self in (Comparator.lt, Comparator.le)


COMPARATOR_WORDS: dict[Comparator, str] = {
    Comparator.lt: "<",
    Comparator.le: "≤",
    Comparator.ge: "≥",
    Comparator.gt: ">",
}
