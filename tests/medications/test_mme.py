"""Morphine milligram equivalents per day from the CDC 2022 table: worked examples, and the flags at 50
and 90 MME/day."""

from __future__ import annotations

from datetime import date

import pytest

from careteam.medications import service
from careteam.medications.codes import (
    DRUGS,
    MME_CAVEAT,
    MME_FACTORS,
    MME_SOURCE,
    Drug,
    DrugClass,
    Frequency,
    MedicationStatus,
    MmeLevel,
    SafetyTask,
    mme_level,
    period_of,
)
from careteam.medications.tables import Medication


def test_the_factors_are_the_cdc_2022_tables() -> None:
    assert {
        Drug.codeine: 0.15,
        Drug.fentanyl_transdermal: 2.4,
        Drug.hydrocodone: 1.0,
        Drug.hydromorphone: 5.0,
        Drug.methadone: 4.7,
        Drug.morphine: 1.0,
        Drug.oxycodone: 1.5,
        Drug.oxymorphone: 3.0,
        Drug.tapentadol: 0.4,
        Drug.tramadol: 0.2,
    } == MME_FACTORS
    assert {d for d, spec in DRUGS.items() if spec.drug_class == DrugClass.opioid} == set(MME_FACTORS)
    assert "2022" in MME_SOURCE and "not a dose-conversion tool" in MME_CAVEAT


# (drug, dose, frequency, MME/day): worked by hand from the table.
SINGLE = [
    (Drug.methadone, 10, Frequency.tid, 141.0),  # 30 mg/day x 4.7
    (Drug.methadone, 5, Frequency.bid, 47.0),  # 10 mg/day x 4.7
    (Drug.fentanyl_transdermal, 25, Frequency.continuous, 60.0),  # 25 mcg/h x 2.4
    (Drug.fentanyl_transdermal, 12, Frequency.continuous, 28.8),
    (Drug.oxycodone, 10, Frequency.q6h, 60.0),  # 40 mg/day x 1.5
    (Drug.oxycodone, 10, Frequency.bid, 30.0),  # the guideline's own example: ER oxycodone 10 mg twice daily
    (
        Drug.hydrocodone,
        5,
        Frequency.qid,
        20.0,
    ),  # the guideline's own example: hydrocodone 5 mg four times daily
    (Drug.tramadol, 50, Frequency.qid, 40.0),
    (Drug.tapentadol, 100, Frequency.bid, 80.0),
    (Drug.hydromorphone, 2, Frequency.q4h, 60.0),
    (Drug.codeine, 30, Frequency.qid, 18.0),
    (Drug.oxymorphone, 10, Frequency.q12h, 60.0),
    (Drug.morphine, 15, Frequency.q8h, 45.0),
    (Drug.apixaban, 5, Frequency.bid, None),  # not an opioid
]


@pytest.mark.parametrize(("drug", "dose", "frequency", "mme"), SINGLE)
def test_one_medication(drug: Drug, dose: float, frequency: Frequency, mme: float | None) -> None:
    assert service.mme_per_day(drug, dose, frequency) == mme


def _med(drug: Drug, dose: float, frequency: Frequency, status: str = MedicationStatus.active) -> Medication:
    return Medication(
        plan_id=1,
        patient_id=1,
        drug=drug,
        drug_class=DRUGS[drug].drug_class,
        dose=dose,
        unit=DRUGS[drug].unit,
        frequency=frequency,
        route=DRUGS[drug].routes[0],
        start_date=date(2026, 11, 1),
        status=status,
        status_since=date(2026, 11, 1),
        author_id=1,
        updated_by_id=1,
    )


# Combinations: (medications, plan total, flag).
COMBINATIONS = [
    ([_med(Drug.oxycodone, 5, Frequency.q6h)], 30.0, MmeLevel.none),
    # methadone 5 mg bid (47) + tramadol 50 mg daily (10) = 57: caution
    (
        [_med(Drug.methadone, 5, Frequency.bid), _med(Drug.tramadol, 50, Frequency.daily)],
        57.0,
        MmeLevel.caution,
    ),
    # fentanyl 25 mcg/h (60) + oxycodone 10 mg q6h (60) = 120: the cancer-pain patient, high
    (
        [_med(Drug.fentanyl_transdermal, 25, Frequency.continuous), _med(Drug.oxycodone, 10, Frequency.q6h)],
        120.0,
        MmeLevel.high,
    ),
    # fentanyl 12 mcg/h (28.8) + methadone 5 mg daily (23.5) + stopped oxycodone (not counted) = 52.3
    (
        [
            _med(Drug.fentanyl_transdermal, 12, Frequency.continuous),
            _med(Drug.methadone, 5, Frequency.daily),
            _med(Drug.oxycodone, 20, Frequency.q6h, MedicationStatus.stopped),
            _med(Drug.apixaban, 5, Frequency.bid),
        ],
        52.3,
        MmeLevel.caution,
    ),
    # on hold is not counted either
    ([_med(Drug.methadone, 10, Frequency.tid, MedicationStatus.on_hold)], 0.0, MmeLevel.none),
]


@pytest.mark.parametrize(("rows", "total", "level"), COMBINATIONS)
def test_plan_totals(rows: list[Medication], total: float, level: MmeLevel) -> None:
    summary = service.mme_summary(rows)
    assert (summary.total, summary.level) == (total, level)
    assert summary.caveat == MME_CAVEAT and summary.source == MME_SOURCE


@pytest.mark.parametrize(
    ("total", "level"),
    [
        (0, MmeLevel.none),
        (49.9, MmeLevel.none),
        (50, MmeLevel.caution),
        (89.9, MmeLevel.caution),
        (90, MmeLevel.high),
    ],
)
def test_flags_at_50_and_90(total: float, level: MmeLevel) -> None:
    assert mme_level(total) == level


def test_periods_are_calendar_quarters_and_years() -> None:
    assert period_of(SafetyTask.pdmp, date(2026, 12, 2)) == (date(2026, 10, 1), date(2026, 12, 31))
    assert period_of(SafetyTask.pdmp, date(2027, 1, 1)) == (date(2027, 1, 1), date(2027, 3, 31))
    assert period_of(SafetyTask.reassessment, date(2026, 5, 31)) == (date(2026, 4, 1), date(2026, 6, 30))
    assert period_of(SafetyTask.uds, date(2026, 12, 2)) == (date(2026, 1, 1), date(2026, 12, 31))
