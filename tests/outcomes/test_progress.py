"""A goal's achievement from its measure's scores: every status of the rule (docs/outcomes.md), for
targets that want lower scores and higher ones."""

from __future__ import annotations

from datetime import date

import pytest

from careteam.core.vocab import MEASURE_RANGES, Comparator, Measure
from careteam.outcomes.codes import MEASURES
from careteam.outcomes.progress import Achievement, Target, achievement

TODAY = date(2026, 12, 2)
PEG_4 = Target(Measure.peg, Comparator.le, 4, date(2027, 2, 15))  # PEG <= 4 by 15 Feb 2027
A = Achievement


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], A.in_progress),  # no score yet
        ([7], A.in_progress),  # one score: nothing to compare
        ([7, 7], A.in_progress),  # no change
        ([7, 6], A.improving),  # towards the target
        ([6, 7], A.worsening),  # away from it
        ([7, 3, 5], A.worsening),  # the latest against the one before, not the first
        ([7, 6, 4], A.achieved),  # meets it: <= includes the value
        ([3], A.achieved),  # met at once
    ],
)
def test_before_the_due_date(values: list[float], expected: Achievement) -> None:
    assert achievement(PEG_4, values, today=TODAY) == expected


def test_after_the_due_date_a_goal_not_met_is_not_achieved() -> None:
    after = date(2027, 2, 16)
    assert achievement(PEG_4, [7, 5], today=after) == A.not_achieved
    assert achievement(PEG_4, [], today=after) == A.not_achieved
    assert achievement(PEG_4, [7, 4], today=after) == A.achieved
    # On the due date itself the goal is still being worked towards.
    assert achievement(PEG_4, [7, 5], today=date(2027, 2, 15)) == A.improving
    # No due date: never not-achieved.
    open_ended = Target(Measure.peg, Comparator.le, 4, None)
    assert achievement(open_ended, [7, 5], today=after) == A.improving


def test_strict_and_higher_is_better_targets() -> None:
    below = Target(Measure.nrs, Comparator.lt, 4, None)
    assert achievement(below, [5, 4], today=TODAY) == A.improving  # 4 is not < 4
    assert achievement(below, [5, 3], today=TODAY) == A.achieved
    higher = Target(Measure.odi, Comparator.ge, 50, None)  # a higher-is-better target reads the other way
    assert achievement(higher, [30, 40], today=TODAY) == A.improving
    assert achievement(higher, [40, 30], today=TODAY) == A.worsening
    assert achievement(higher, [40, 50], today=TODAY) == A.achieved
    above = Target(Measure.odi, Comparator.gt, 50, None)
    assert achievement(above, [40, 50], today=TODAY) == A.improving
    assert Target(Measure.peg, Comparator.le, 4.5, None).words() == "PEG ≤ 4.5"


def test_the_shared_vocabulary_agrees_with_the_measures() -> None:
    """core.vocab's ranges (what plans checks a goal's target against) are outcomes' measures' ranges."""
    for measure in Measure:
        assert MEASURE_RANGES[measure] == (MEASURES[measure].low, MEASURES[measure].high)
