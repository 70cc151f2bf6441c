"""The demo clinic's medications: Ellen Marsh at 60 MME/day (caution), Robert Chen at 120 (high) with
apixaban held 3 days before the SCS trial; each opioid and the hold were acknowledged; seeding again
adds none."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from careteam import demo
from careteam.medications import service as medications
from careteam.medications.tables import Medication
from careteam.messaging.tables import MessageAckRequired
from careteam.patients.tables import Patient
from careteam.settings import Settings


async def test_the_demo_clinic_has_its_opioids_and_a_hold(settings: Settings, db: Any) -> None:
    await demo.seed(settings, password="demo-password")
    async with db() as s:
        rows = list(await s.exec(select(Medication)))
        names = {p.id: p.name for p in await s.exec(select(Patient))}
        asked = {a.message_id for a in await s.exec(select(MessageAckRequired))}
    of = {n: [r for r in rows if names[r.patient_id] == n] for n in ("Ellen Marsh", "Robert Chen")}
    ellen, robert = medications.mme_summary(of["Ellen Marsh"]), medications.mme_summary(of["Robert Chen"])
    assert (ellen.total, ellen.level) == (60.0, "caution")
    assert (robert.total, robert.level) == (120.0, "high")
    apixaban = next(r for r in of["Robert Chen"] if r.drug == "apixaban")
    assert apixaban.hold_days == 3 and "SCS trial" in (apixaban.hold_note or "")
    safety = [r for r in rows if r.drug_class in ("opioid", "anticoagulant")]
    assert len(safety) == 4 and all(r.safety_message_id in asked for r in safety)
    async with db() as s:
        acks = await medications.acks_of(s, safety)
    assert all(a.acknowledged for a in acks.values()) and len(acks) == 4  # acknowledged long ago

    await demo.seed(settings, password="demo-password")
    async with db() as s:
        assert len(list(await s.exec(select(Medication)))) == len(rows)
