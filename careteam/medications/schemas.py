"""Medications' input and output shapes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from careteam.core.schemas import Input, Public
from careteam.core.vocab import Discipline
from careteam.medications.codes import (
    CAUTION_MME,
    HIGH_MME,
    Drug,
    DrugClass,
    Frequency,
    MedicationStatus,
    MmeLevel,
    Route,
    Unit,
)

Dose = Annotated[float, Field(gt=0, le=10_000, allow_inf_nan=False)]
HoldDays = Annotated[int, Field(ge=0, le=30, strict=True)]
HoldNote = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
AckBy = Annotated[list[Discipline], Field(min_length=1, max_length=len(Discipline))]

_ACK_BY = (
    "Who must acknowledge this safety change (disciplines of the care team), instead of the defaults: "
    "an anticoagulant's hold -> physician and nurse; an opioid change -> nurse and pharmacist (physician "
    "when no pharmacist is on the team)."
)


class MedicationCreate(Input):
    """A medication on the plan. ``dose`` in the drug's unit (mg; the fentanyl patch in mcg/h, frequency
    ``continuous``); ``route`` defaults to the drug's usual one. An anticoagulant may carry its hold before a
    procedure (``hold_days``, ``hold_note``). A new opioid, or an anticoagulant with a hold, posts an urgent
    message on the plan's team thread that ``acknowledge_by`` (or the defaults) must acknowledge."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"drug": "oxycodone", "dose": 10, "frequency": "q6h", "start_date": "2026-11-02"},
                {"drug": "fentanyl-transdermal", "dose": 25, "frequency": "continuous"},
                {
                    "drug": "apixaban",
                    "dose": 5,
                    "frequency": "bid",
                    "hold_days": 3,
                    "hold_note": "Hold apixaban 3 days before the SCS trial; bridging not needed.",
                    "acknowledge_by": ["physician", "nurse"],
                },
            ]
        },
    )

    drug: Drug
    dose: Dose
    frequency: Frequency
    route: Route | None = None
    start_date: date | None = None
    status: MedicationStatus = MedicationStatus.active
    hold_days: HoldDays | None = None
    hold_note: HoldNote | None = None
    note: Note | None = None
    acknowledge_by: AckBy | None = Field(default=None, description=_ACK_BY)


class MedicationUpdate(Input):
    """Any subset of fields (``null`` clears a hold or a note). A change of an opioid's dose, frequency or
    status, or of an anticoagulant's hold, posts an urgent message that must be acknowledged."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"dose": 5, "frequency": "q6h", "note": "Taper step 2 of 4"},
                {"status": "stopped"},
                {"hold_days": 3, "hold_note": "Hold apixaban from Monday for Thursday's procedure"},
            ]
        },
    )

    dose: Dose | None = None
    frequency: Frequency | None = None
    route: Route | None = None
    start_date: date | None = None
    status: MedicationStatus | None = None
    hold_days: HoldDays | None = None
    hold_note: HoldNote | None = None
    note: Note | None = None
    acknowledge_by: AckBy | None = Field(default=None, description=_ACK_BY)


class Coding(Public):
    system: str
    code: str
    display: str


class Awaited(Public):
    user_id: int
    display_name: str


class SafetyAck(Public):
    """The urgent message the medication's last safety change posted: who has not acknowledged it yet."""

    message_id: int
    waiting_for: list[Awaited]
    acknowledged: bool


class MedicationPublic(Public):
    """A medication. ``mme_per_day``: its morphine milligram equivalents per day (opioids; null for any
    other drug), counted in the plan's total only while ``active``."""

    id: int
    plan_id: int
    patient_id: int
    drug: Drug
    code: Coding
    drug_class: DrugClass
    dose: float
    unit: Unit
    frequency: Frequency
    doses_per_day: int | None
    route: Route
    start_date: date
    status: MedicationStatus
    status_since: date
    hold_days: int | None
    hold_note: str | None
    note: str | None
    mme_per_day: float | None
    safety: SafetyAck | None = None
    author_id: int
    updated_by_id: int
    version: int
    created_at: datetime
    updated_at: datetime


class MmeTotal(Public):
    """The plan's morphine milligram equivalents per day over its active opioids, against the CDC 2022
    guideline's thresholds, with the table's source and its caveat (not a dose-conversion tool)."""

    total: float
    level: MmeLevel
    caution_at: float = CAUTION_MME
    high_at: float = HIGH_MME
    source: str
    caveat: str


class MedicationsPublic(Public):
    """The plan's medications (active first, then on hold, then stopped; newest first within each) and its
    MME/day."""

    items: list[MedicationPublic]
    mme: MmeTotal
