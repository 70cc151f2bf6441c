"""Acknowledgement-gated safety changes: which change of a medication is one, the urgent message it posts
on the plan's team thread, who must acknowledge it, and who has not yet.

A safety change is a new opioid (active), or an opioid's dose, frequency, route or status changed; or an
anticoagulant's hold before a procedure set or changed. Who must acknowledge, by default (the care team's
members of these disciplines, the author aside; any one member of each discipline suffices):
- an anticoagulant's hold: physician and nurse;
- an opioid change: nurse and pharmacist, or nurse and physician when no pharmacist is on the team.
A default discipline with no one else on the team is left out; if none is left, the team's lead is asked;
if she is the author too, the message is posted without acknowledgement. The request may name the
disciplines instead (``acknowledge_by``), each of which must have someone else on the care team (422).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.core.actor import Actor
from careteam.core.errors import ValidationFailed
from careteam.core.vocab import DISCIPLINE_LABELS, Discipline
from careteam.medications.codes import (
    DOSES_PER_DAY,
    DRUGS,
    FREQUENCY_LABELS,
    HOLD_ACK,
    OPIOID_ACK,
    OPIOID_ACK_NO_PHARMACIST,
    Drug,
    DrugClass,
    Frequency,
    MedicationStatus,
    mme_level,
)
from careteam.medications.schemas import Awaited, SafetyAck
from careteam.medications.tables import Medication
from careteam.messaging import service as messaging
from careteam.messaging.schemas import MessageCreate, UrgentCreate
from careteam.patients import service as patients


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # "opioid" or "hold"
    what: str  # one line, in the clinic's words


def dose_text(row: Medication) -> str:
    spec = DRUGS[Drug(row.drug)]
    return f"{spec.display} {row.dose:g} {spec.unit.value} {FREQUENCY_LABELS[Frequency(row.frequency)]}"


def _mme(row: Medication) -> float:
    factor = DRUGS[Drug(row.drug)].mme_factor or 0.0
    per_day = DOSES_PER_DAY[Frequency(row.frequency)]
    return round((row.dose if per_day is None else row.dose * per_day) * factor, 1)


def change_of(before: Medication | None, after: Medication) -> Change | None:
    """The safety change from ``before`` (None: just added) to ``after``, if it is one."""
    drug_class = DrugClass(after.drug_class)
    if drug_class == DrugClass.opioid:
        mme = f"{_mme(after):g} MME/day"
        if before is None:
            if after.status != MedicationStatus.active:
                return None
            return Change("opioid", f"New opioid: {dose_text(after)} ({mme}).")
        if after.status != before.status:
            words = {"active": "restarted", "on-hold": "put on hold", "stopped": "stopped"}
            return Change("opioid", f"Opioid {words[after.status]}: {dose_text(after)}.")
        fields = ("dose", "frequency", "route")
        if any(getattr(after, f) != getattr(before, f) for f in fields):
            return Change("opioid", f"Opioid changed: {dose_text(before)} -> {dose_text(after)} ({mme}).")
        return None
    if drug_class == DrugClass.anticoagulant:
        hold = (after.hold_days, after.hold_note)
        if (before is None and hold == (None, None)) or (
            before and hold == (before.hold_days, before.hold_note)
        ):
            return None
        if hold == (None, None):
            return Change("hold", f"Hold removed: {dose_text(after)} continues without a hold.")
        days = (
            f"hold {after.hold_days} day{'s' if after.hold_days != 1 else ''} before the procedure"
            if after.hold_days is not None
            else "hold"
        )
        note = f" {after.hold_note}" if after.hold_note else ""
        return Change("hold", f"Anticoagulant {days}: {dose_text(after)}.{note}")
    return None


async def _plan_total(session: AsyncSession, plan_id: int) -> float:
    rows = await session.exec(
        select(Medication).where(
            Medication.plan_id == plan_id,
            Medication.drug_class == DrugClass.opioid,
            Medication.status == MedicationStatus.active,
        )
    )
    return round(sum(_mme(r) for r in rows), 1)


def _askable(team: dict[int, Discipline], author_id: int) -> set[Discipline]:
    return {d for u, d in team.items() if u != author_id}


async def ask(
    session: AsyncSession,
    row: Medication,
    change: Change,
    acknowledge_by: Sequence[Discipline] | None,
    *,
    actor: Actor,
) -> int | None:
    """Post the change on the plan's team thread, urgent for the disciplines that must acknowledge it;
    the message's id (None if no one else on the team could be asked: then it is not urgent)."""
    team = (await patients.team_disciplines(session, [row.patient_id]))[row.patient_id]
    present = _askable(team, actor.user_id)
    if acknowledge_by is not None:
        for discipline in acknowledge_by:
            if discipline not in present:
                raise ValidationFailed(
                    f"No one else on the care team is in {DISCIPLINE_LABELS[discipline]}.",
                    field="acknowledge_by",
                )
        chosen = sorted(set(acknowledge_by))
    else:
        if change.kind == "hold":
            defaults = HOLD_ACK
        else:
            defaults = OPIOID_ACK if Discipline.pharmacist in present else OPIOID_ACK_NO_PHARMACIST
        chosen = sorted({d for d in defaults if d in present})
        if not chosen and Discipline.ipm_lead in present:
            chosen = [Discipline.ipm_lead]
    total = await _plan_total(session, row.plan_id)
    level = mme_level(total)
    flag = {"high": " (90 or more: high)", "caution": " (50 or more: caution)"}.get(level.value, "")
    lines = [f"**Medication safety change.** {change.what}"]
    if change.kind == "opioid":
        lines.append(f"Plan total now {total:g} MME/day{flag}.")
    if chosen:
        names = ", ".join(DISCIPLINE_LABELS[d] for d in chosen)
        lines.append(f"Please acknowledge ({names}).")
    body = MessageCreate(
        body="\n\n".join(lines),
        urgent=UrgentCreate(disciplines=chosen, any_of_discipline=True) if chosen else None,
    )
    message = await messaging.post_plan_message(session, row.plan_id, body, actor=actor)
    return message.id if chosen else None


async def acks_of(session: AsyncSession, rows: Sequence[Medication]) -> dict[int, SafetyAck]:
    """For each medication whose last safety change awaits acknowledgement: who has not acknowledged yet
    (by name), by medication id. A constant number of queries, for a caller that checked access."""
    asked = {r.id or 0: r.safety_message_id for r in rows if r.safety_message_id is not None}
    if not asked:
        return {}
    waiting = await messaging.awaited(session, asked.values())
    names = await accounts.display_names(session, {u for users in waiting.values() for u in users})
    return {
        medication_id: SafetyAck(
            message_id=message_id,
            waiting_for=[
                Awaited(user_id=u, display_name=names.get(u, "Unknown")) for u in waiting.get(message_id, [])
            ],
            acknowledged=not waiting.get(message_id),
        )
        for medication_id, message_id in asked.items()
    }
