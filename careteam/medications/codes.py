"""Medications' vocabulary: the coded drugs (class, unit, routes, MME conversion factor), frequencies,
statuses, the recurring opioid-safety tasks and their periods, and the kinds of event a medication puts on
its plan's stream.

**MME conversion factors** (``MME_FACTORS``) are copied from the CDC Clinical Practice Guideline for
Prescribing Opioids for Pain — United States, 2022 (Dowell D, Ragan KR, Jones CM, Baldwin GT, Chou R.
MMWR Recomm Rep 2022;71(No. RR-3):1-95), Table: "Morphine milligram equivalent doses for commonly
prescribed opioids for pain management" (adapted there from Von Korff M et al., Clin J Pain 2008;24:521-7
and Nielsen S et al., Pharmacoepidemiol Drug Saf 2016;25:733-7). Multiply each opioid's daily dose (mg/day;
transdermal fentanyl: mcg/h) by its factor; the plan's total is the sum over its active opioids.

The guideline's caveat, kept with the table (``MME_CAVEAT``) and shown wherever a total is: MME is a
measure of overall opioid exposure to guide monitoring, **not a dose-conversion tool**.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from careteam.core.vocab import Discipline

DRUG_SYSTEM = "urn:careteam:drug"
MME_SOURCE = (
    "CDC Clinical Practice Guideline for Prescribing Opioids for Pain — United States, 2022. "
    "MMWR Recomm Rep 2022;71(No. RR-3):1-95, Table (morphine milligram equivalent doses)."
)
MME_CAVEAT = (
    "MME/day shows overall opioid exposure to guide monitoring. It is not a dose-conversion tool: do not "
    "use it to convert one opioid to another (the new opioid is typically dosed substantially lower, for "
    "incomplete cross-tolerance); take particular care with methadone and transdermal fentanyl."
)
# The 2022 guideline asks for extra care as the daily dose rises: at 50 MME/day reassess benefits and
# risks (and offer naloxone); at 90 MME/day and above, avoid increasing or justify and document it.
CAUTION_MME = 50.0
HIGH_MME = 90.0


class DrugClass(StrEnum):
    opioid = "opioid"
    anticoagulant = "anticoagulant"
    other = "other"


class Unit(StrEnum):
    mg = "mg"
    mcg_per_h = "mcg/h"


class Route(StrEnum):
    oral = "oral"
    transdermal = "transdermal"
    sublingual = "sublingual"
    subcutaneous = "subcutaneous"
    intravenous = "intravenous"
    nasal = "nasal"


class Drug(StrEnum):
    # Opioids: the CDC 2022 table's, in its order
    codeine = "codeine"
    fentanyl_transdermal = "fentanyl-transdermal"
    hydrocodone = "hydrocodone"
    hydromorphone = "hydromorphone"
    methadone = "methadone"
    morphine = "morphine"
    oxycodone = "oxycodone"
    oxymorphone = "oxymorphone"
    tapentadol = "tapentadol"
    tramadol = "tramadol"
    # Anticoagulants (those a procedure's anticoagulation plan holds)
    apixaban = "apixaban"
    rivaroxaban = "rivaroxaban"
    dabigatran = "dabigatran"
    edoxaban = "edoxaban"
    warfarin = "warfarin"
    enoxaparin = "enoxaparin"
    # Pain adjuvants and the rescue medication the plan also lists
    duloxetine = "duloxetine"
    gabapentin = "gabapentin"
    pregabalin = "pregabalin"
    naloxone = "naloxone"


@dataclass(frozen=True, slots=True)
class DrugDef:
    display: str
    drug_class: DrugClass
    unit: Unit
    routes: tuple[Route, ...]  # the first is the default
    mme_factor: float | None = None  # opioids only: MME per mg/day (transdermal fentanyl: per mcg/h)


_ORAL = (Route.oral,)
MME_FACTORS: dict[Drug, float] = {
    Drug.codeine: 0.15,
    Drug.fentanyl_transdermal: 2.4,  # per mcg/h
    Drug.hydrocodone: 1.0,
    Drug.hydromorphone: 5.0,
    Drug.methadone: 4.7,
    Drug.morphine: 1.0,
    Drug.oxycodone: 1.5,
    Drug.oxymorphone: 3.0,
    Drug.tapentadol: 0.4,
    Drug.tramadol: 0.2,
}


def _opioid(display: str, drug: Drug, routes: tuple[Route, ...] = _ORAL, unit: Unit = Unit.mg) -> DrugDef:
    return DrugDef(display, DrugClass.opioid, unit, routes, MME_FACTORS[drug])


DRUGS: dict[Drug, DrugDef] = {
    Drug.codeine: _opioid("Codeine", Drug.codeine),
    Drug.fentanyl_transdermal: _opioid(
        "Fentanyl patch", Drug.fentanyl_transdermal, (Route.transdermal,), Unit.mcg_per_h
    ),
    Drug.hydrocodone: _opioid("Hydrocodone", Drug.hydrocodone),
    Drug.hydromorphone: _opioid("Hydromorphone", Drug.hydromorphone, (Route.oral, Route.subcutaneous)),
    Drug.methadone: _opioid("Methadone", Drug.methadone),
    Drug.morphine: _opioid("Morphine", Drug.morphine, (Route.oral, Route.subcutaneous)),
    Drug.oxycodone: _opioid("Oxycodone", Drug.oxycodone),
    Drug.oxymorphone: _opioid("Oxymorphone", Drug.oxymorphone),
    Drug.tapentadol: _opioid("Tapentadol", Drug.tapentadol),
    Drug.tramadol: _opioid("Tramadol", Drug.tramadol),
    Drug.apixaban: DrugDef("Apixaban", DrugClass.anticoagulant, Unit.mg, _ORAL),
    Drug.rivaroxaban: DrugDef("Rivaroxaban", DrugClass.anticoagulant, Unit.mg, _ORAL),
    Drug.dabigatran: DrugDef("Dabigatran", DrugClass.anticoagulant, Unit.mg, _ORAL),
    Drug.edoxaban: DrugDef("Edoxaban", DrugClass.anticoagulant, Unit.mg, _ORAL),
    Drug.warfarin: DrugDef("Warfarin", DrugClass.anticoagulant, Unit.mg, _ORAL),
    Drug.enoxaparin: DrugDef("Enoxaparin", DrugClass.anticoagulant, Unit.mg, (Route.subcutaneous,)),
    Drug.duloxetine: DrugDef("Duloxetine", DrugClass.other, Unit.mg, _ORAL),
    Drug.gabapentin: DrugDef("Gabapentin", DrugClass.other, Unit.mg, _ORAL),
    Drug.pregabalin: DrugDef("Pregabalin", DrugClass.other, Unit.mg, _ORAL),
    Drug.naloxone: DrugDef("Naloxone (rescue)", DrugClass.other, Unit.mg, (Route.nasal, Route.intravenous)),
}


class Frequency(StrEnum):
    """How often a dose is taken; ``continuous`` is a patch worn all the time (dose in mcg/h)."""

    daily = "daily"
    bid = "bid"
    tid = "tid"
    qid = "qid"
    q4h = "q4h"
    q6h = "q6h"
    q8h = "q8h"
    q12h = "q12h"
    continuous = "continuous"


# Doses per day for each frequency (a patch: none, its dose is a rate).
DOSES_PER_DAY: dict[Frequency, int | None] = {
    Frequency.daily: 1,
    Frequency.bid: 2,
    Frequency.tid: 3,
    Frequency.qid: 4,
    Frequency.q4h: 6,
    Frequency.q6h: 4,
    Frequency.q8h: 3,
    Frequency.q12h: 2,
    Frequency.continuous: None,
}
FREQUENCY_LABELS: dict[Frequency, str] = {
    Frequency.daily: "once daily",
    Frequency.bid: "twice daily",
    Frequency.tid: "three times daily",
    Frequency.qid: "four times daily",
    Frequency.q4h: "every 4 hours",
    Frequency.q6h: "every 6 hours",
    Frequency.q8h: "every 8 hours",
    Frequency.q12h: "every 12 hours",
    Frequency.continuous: "continuous (patch)",
}


class MedicationStatus(StrEnum):
    """FHIR MedicationStatement.status, the three a plan uses: taken now, paused, stopped for good."""

    active = "active"
    on_hold = "on-hold"
    stopped = "stopped"


class MedicationEvent(StrEnum):
    """The kinds of event a medication puts on its plan's stream; data: the ``MedicationPublic``."""

    added = "medication.added"
    changed = "medication.changed"


class MmeLevel(StrEnum):
    """The plan's total MME/day against the guideline's thresholds."""

    none = "none"  # below 50
    caution = "caution"  # 50 or more
    high = "high"  # 90 or more


def mme_level(total: float) -> MmeLevel:
    if total >= HIGH_MME:
        return MmeLevel.high
    if total >= CAUTION_MME:
        return MmeLevel.caution
    return MmeLevel.none


# --- The recurring opioid-safety tasks ------------------------------------------------------------


class SafetyTask(StrEnum):
    pdmp = "pdmp"
    uds = "uds"
    agreement = "agreement"
    naloxone = "naloxone"
    reassessment = "reassessment"


@dataclass(frozen=True, slots=True)
class SafetyTaskDef:
    title: str
    discipline: Discipline  # the lane it goes in
    months: int  # its period: calendar quarters (3), half-years (6) or years (12)
    why: str  # the task's description


# Periods (calendar-aligned, UTC dates, so "once per period" has one answer in every process):
# - PDMP check every 3 months: the 2022 guideline's "at least every 3 months" while prescribing.
# - Urine drug screen every 12 months: "at least annually" (the clinic may add more).
# - Treatment agreement renewed every 12 months.
# - Naloxone offered (and documented) every 12 months: a kit expires; re-offer at least yearly.
# - Reassessment of benefits and harms every 3 months (the guideline: within 4 weeks of starting,
#   then at least every 3 months).
SAFETY_TASKS: dict[SafetyTask, SafetyTaskDef] = {
    SafetyTask.pdmp: SafetyTaskDef(
        "PDMP check",
        Discipline.nurse,
        3,
        "Check the prescription drug monitoring program; record the result.",
    ),
    SafetyTask.uds: SafetyTaskDef(
        "UDS due",
        Discipline.nurse,
        12,
        "Urine drug screen; discuss unexpected results before the next prescription.",
    ),
    SafetyTask.agreement: SafetyTaskDef(
        "Opioid agreement renewal",
        Discipline.nurse,
        12,
        "Renew the opioid treatment agreement with the patient.",
    ),
    SafetyTask.naloxone: SafetyTaskDef(
        "Naloxone offered and documented",
        Discipline.nurse,
        12,
        "Offer naloxone; check the kit's expiry date.",
    ),
    SafetyTask.reassessment: SafetyTaskDef(
        "Opioid reassessment (3-monthly)",
        Discipline.physician,
        3,
        "Reassess benefits and harms of long-term opioid therapy; taper if they no longer outweigh risks.",
    ),
}


def period_of(kind: SafetyTask, day: date) -> tuple[date, date]:
    """The calendar period of a recurring task that contains ``day``: its first and last day (quarters
    start in January, April, July and October; half-years in January and July; years in January)."""
    months = SAFETY_TASKS[kind].months
    first_month = (day.month - 1) // months * months + 1
    start = date(day.year, first_month, 1)
    end_month = first_month + months
    end = date(day.year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1)
    return start, date.fromordinal(end.toordinal() - 1)


# --- Acknowledgement-gated safety changes ---------------------------------------------------------

# Who must acknowledge a change by default (those of these disciplines on the care team, the author aside);
# the request may name others of the team instead.
HOLD_ACK = (Discipline.physician, Discipline.nurse)
OPIOID_ACK = (Discipline.nurse, Discipline.pharmacist)
OPIOID_ACK_NO_PHARMACIST = (Discipline.nurse, Discipline.physician)
# Who may add or change the plan's medications: its prescribers and those who reconcile and review them.
# Everyone on the care team reads them.
WRITERS = frozenset({Discipline.ipm_lead, Discipline.physician, Discipline.nurse, Discipline.pharmacist})
