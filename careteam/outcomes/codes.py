"""Outcome measures' vocabulary: each measure's code, range, items and severity bands; the observation's
status (FHIR observation-status, the two used here); the kinds of event a measure puts on its plan's stream.

Codes: LOINC where LOINC has the score (NRS 72514-3, PHQ-9 total 44261-6, GAD-7 total 70274-6); the
clinic's own system for PEG-3 and the Oswestry index, whose scores are not coded here in LOINC."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from careteam.core.vocab import Measure

__all__ = ["MEASURES", "Band", "Measure", "MeasureDef", "ObservationStatus", "OutcomeEvent", "ResponseResult"]

LOINC = "http://loinc.org"
LOCAL = "urn:careteam:measure"


class ObservationStatus(StrEnum):
    """FHIR observation-status: ``final`` as recorded, ``entered-in-error`` withdrawn (kept, never edited)."""

    final = "final"
    entered_in_error = "entered-in-error"


class OutcomeEvent(StrEnum):
    recorded = "measure.recorded"
    entered_in_error = "measure.entered-in-error"
    response_recorded = "response.recorded"  # a procedure's percent relief, on its task's card
    response_entered_in_error = "response.entered-in-error"


class ResponseResult(StrEnum):
    """A diagnostic block's result against the team's threshold (``CARETEAM_BLOCK_RELIEF_THRESHOLD``)."""

    positive = "positive"
    negative = "negative"


@dataclass(frozen=True, slots=True)
class Band:
    """Scores from ``low`` to ``high`` (inclusive) read as ``label``."""

    low: float
    high: float
    label: str


@dataclass(frozen=True, slots=True)
class MeasureDef:
    system: str
    code: str
    display: str  # as clinicians name it on a card
    title: str  # what it measures, for a chart's accessible name
    low: int
    high: int
    unit: str  # "" for a score, "%" for the Oswestry index
    items: tuple[str, ...]  # answered items whose mean is the value (PEG-3); empty: the value itself
    bands: tuple[Band, ...]  # NRS: the usual cut-offs; PHQ-9, GAD-7: their authors'; ODI: Fairbank's

    def band(self, value: float) -> str | None:
        """The severity band of a score, where the measure has published bands (PEG-3 has none)."""
        for b in self.bands:
            if b.low <= value <= b.high:
                return b.label
        return None


MEASURES: dict[Measure, MeasureDef] = {
    Measure.nrs: MeasureDef(
        LOINC,
        "72514-3",
        "NRS",
        "Pain intensity (NRS 0-10)",
        0,
        10,
        "",
        (),
        (Band(0, 0, "none"), Band(1, 3, "mild"), Band(4, 6, "moderate"), Band(7, 10, "severe")),
    ),
    Measure.peg: MeasureDef(
        LOCAL,
        "peg-3",
        "PEG",
        "PEG-3 (pain, enjoyment, general activity; mean 0-10)",
        0,
        10,
        "",
        ("Average pain", "Interference with enjoyment of life", "Interference with general activity"),
        (),
    ),
    Measure.phq9: MeasureDef(
        LOINC,
        "44261-6",
        "PHQ-9",
        "Depression (PHQ-9 total 0-27)",
        0,
        27,
        "",
        (),
        (
            Band(0, 4, "minimal"),
            Band(5, 9, "mild"),
            Band(10, 14, "moderate"),
            Band(15, 19, "moderately severe"),
            Band(20, 27, "severe"),
        ),
    ),
    Measure.gad7: MeasureDef(
        LOINC,
        "70274-6",
        "GAD-7",
        "Anxiety (GAD-7 total 0-21)",
        0,
        21,
        "",
        (),
        (Band(0, 4, "minimal"), Band(5, 9, "mild"), Band(10, 14, "moderate"), Band(15, 21, "severe")),
    ),
    Measure.odi: MeasureDef(
        LOCAL,
        "odi",
        "ODI",
        "Disability (Oswestry index 0-100%)",
        0,
        100,
        "%",
        (),
        (
            Band(0, 20, "minimal disability"),
            Band(21, 40, "moderate disability"),
            Band(41, 60, "severe disability"),
            Band(61, 80, "crippled"),
            Band(81, 100, "bed-bound"),
        ),
    ),
}
