"""A goal's achievement, computed from the scores of the measure it is judged by (never stored).

For a goal with a measure target ("PEG <= 4" by its due date), over the measure's scores on the plan that
are not entered in error, in the order they were measured:

- **achieved**: the latest score meets the target;
- **not-achieved**: it does not, and the goal's due date has passed (today is after it), with or without
  scores;
- **improving**: otherwise, the latest score is nearer the target than the one before it (lower for a
  ``<``/``<=`` target, higher for ``>``/``>=``);
- **worsening**: otherwise, it is farther from it;
- **in-progress**: otherwise: no score yet, a single score, or the latest equal to the one before.

Statuses follow FHIR Goal.achievementStatus (its codes in-progress, improving, worsening, achieved,
not-achieved). A goal with no measure target has none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from careteam.core.vocab import COMPARATOR_WORDS, MEASURE_NAMES, Comparator, Measure


class Achievement(StrEnum):
    in_progress = "in-progress"
    improving = "improving"
    worsening = "worsening"
    achieved = "achieved"
    not_achieved = "not-achieved"


ACHIEVEMENT_LABELS: dict[Achievement, str] = {
    Achievement.in_progress: "In progress",
    Achievement.improving: "Improving",
    Achievement.worsening: "Worsening",
    Achievement.achieved: "Achieved",
    Achievement.not_achieved: "Not achieved",
}


@dataclass(frozen=True, slots=True)
class Target:
    measure: Measure
    comparator: Comparator
    value: float
    due: date | None

    def words(self) -> str:
        """ "PEG ≤ 4", as a card says it."""
        return f"{MEASURE_NAMES[self.measure]} {COMPARATOR_WORDS[self.comparator]} {self.value:g}"


def achievement(target: Target, values: Sequence[float], *, today: date) -> Achievement:
    """The goal's status from its measure's scores (oldest first, none entered in error): the rule above."""
    if values and target.comparator.met(values[-1], target.value):
        return Achievement.achieved
    if target.due is not None and today > target.due:
        return Achievement.not_achieved
    if len(values) < 2 or values[-1] == values[-2]:
        return Achievement.in_progress
    towards = values[-1] < values[-2] if target.comparator.lower_is_better else values[-1] > values[-2]
    return Achievement.improving if towards else Achievement.worsening
