"""Patients and their care teams."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from careteam.accounts import service as accounts
from careteam.audit import service as audit
from careteam.audit.codes import AuditAction
from careteam.core.actor import Actor
from careteam.core.errors import Conflict, Duplicate, Forbidden, NotFound, ValidationFailed
from careteam.core.vocab import ClinicRole, Discipline
from careteam.patients.access import clinical_patient_ids, manageable_team_ids, visible_patient_ids
from careteam.patients.codes import CareTeamStatus, TeamRole
from careteam.patients.schemas import (
    CareTeamPublic,
    CareTeamUpdate,
    MemberCreate,
    MemberPublic,
    PatientCreate,
    PatientPublic,
    PatientUpdate,
    SharePublic,
)
from careteam.patients.tables import CareTeam, CareTeamMember, Patient, PatientShare


async def create_patient(session: AsyncSession, body: PatientCreate, *, actor: Actor) -> Patient:
    """Register a patient with an empty care team; an IPM lead who registers her becomes the team's lead."""
    if not actor.may_create_patients:
        raise Forbidden("Only IPM leads and administrators register patients.")
    if (await session.exec(select(Patient.id).where(Patient.mrn == body.mrn))).first() is not None:
        raise Duplicate("A patient with this MRN exists.", field="mrn")
    patient = Patient(mrn=body.mrn, name=body.name, birth_date=body.birth_date)
    session.add(patient)
    await session.flush()
    team = CareTeam(
        patient_id=patient.id or 0, name=f"Care team of {body.name}"[:200], status=CareTeamStatus.active
    )
    session.add(team)
    await session.flush()
    if actor.is_integration:  # the EMR registered her: it may go on working on her
        session.add(
            PatientShare(patient_id=patient.id or 0, user_id=actor.user_id, shared_by_id=actor.user_id)
        )
    elif actor.discipline is Discipline.ipm_lead and not actor.is_admin:
        session.add(
            CareTeamMember(
                team_id=team.id or 0, user_id=actor.user_id, role=TeamRole.lead, discipline=actor.discipline
            )
        )
    audit.record(session, actor, AuditAction.create, "patient", patient.id, patient_id=patient.id)
    await session.flush()
    return patient


async def list_patients(
    session: AsyncSession, *, actor: Actor, q: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[Patient], int]:
    """The patients the actor may see, by name; each one shown is audited as read."""
    query = select(Patient).where(col(Patient.id).in_(visible_patient_ids(actor)))
    if q:
        pattern = f"%{q.lower()}%"
        query = query.where(
            or_(func.lower(Patient.name).like(pattern), func.lower(Patient.mrn).like(pattern))
        )
    total = (await session.exec(select(func.count()).select_from(query.subquery()))).one()
    rows = list(
        await session.exec(query.order_by(col(Patient.name), col(Patient.id)).offset(offset).limit(limit))
    )
    audit.record_reads(session, actor, "patient", ((p.id, p.id) for p in rows))
    return rows, int(total)


async def get_patient(session: AsyncSession, patient_id: int, *, actor: Actor) -> Patient:
    """One patient, if the actor may see her; otherwise not found."""
    patient = await _visible_patient(session, patient_id, actor)
    audit.record(session, actor, AuditAction.read, "patient", patient_id, patient_id=patient_id)
    return patient


async def update_patient(
    session: AsyncSession, patient_id: int, body: PatientUpdate, *, expected_version: int, actor: Actor
) -> Patient:
    """Correct a patient's demographics; only those who manage her team may."""
    patient = await _visible_patient(session, patient_id, actor, for_update=True)
    team = await _team_of(session, patient_id)
    await _ensure_manages(session, team, actor)
    if patient.version != expected_version:
        raise Conflict(
            "Someone changed this patient first.",
            current=PatientPublic.model_validate(patient),
            actor=actor,
            shown=("patient", patient_id, patient_id),
        )
    for field, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(patient, field, value)
    patient.version += 1
    session.add(patient)
    audit.record(session, actor, AuditAction.update, "patient", patient_id, patient_id=patient_id)
    await session.flush()
    return patient


async def get_team(session: AsyncSession, patient_id: int, *, actor: Actor) -> CareTeamPublic:
    """A patient's care team with its members."""
    await _visible_patient(session, patient_id, actor)
    team = await _team_of(session, patient_id)
    audit.record(session, actor, AuditAction.read, "care_team", team.id, patient_id=patient_id)
    return await _team_public(session, team)


async def may_manage_team(session: AsyncSession, patient_id: int, *, actor: Actor) -> bool:
    team = await _team_of(session, patient_id)
    return await _manages(session, team, actor)


async def update_team(
    session: AsyncSession, patient_id: int, body: CareTeamUpdate, *, expected_version: int, actor: Actor
) -> CareTeamPublic:
    """Rename the team or change its FHIR status."""
    await _visible_patient(session, patient_id, actor)
    team = await _team_of(session, patient_id, for_update=True)
    await _ensure_manages(session, team, actor)
    await _ensure_version(session, team, expected_version, actor)
    for field, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(team, field, value)
    return await _changed(session, team, actor, patient_id)


async def add_member(
    session: AsyncSession, patient_id: int, body: MemberCreate, *, expected_version: int | None, actor: Actor
) -> CareTeamPublic:
    """Put a clinician on the team; from now on she sees the patient."""
    return await add_members(session, patient_id, [body], expected_version=expected_version, actor=actor)


async def add_members(
    session: AsyncSession,
    patient_id: int,
    bodies: Sequence[MemberCreate],
    *,
    expected_version: int | None,
    actor: Actor,
) -> CareTeamPublic:
    """Put several clinicians on the team at once: all of them or none, one team version, one audit row and
    one ``team.updated`` per board. From now on they see the patient."""
    await _visible_patient(session, patient_id, actor)
    team = await _team_of(session, patient_id, for_update=True)
    await _ensure_manages(session, team, actor)
    if expected_version is not None:
        await _ensure_version(session, team, expected_version, actor)
    if not bodies:
        raise ValidationFailed("Choose at least one clinician.", field="user_id")
    if len({body.user_id for body in bodies}) != len(bodies):
        raise ValidationFailed("Each clinician can be added once.", field="user_id")
    on_team = set(await session.exec(select(CareTeamMember.user_id).where(CareTeamMember.team_id == team.id)))
    for body in bodies:
        user = await accounts.active_user(session, body.user_id)
        if user is None:
            raise ValidationFailed("No active clinician with this id.", field="user_id")
        if user.role == ClinicRole.integration:
            raise ValidationFailed(
                "An EMR interface account is not a team member: share the patient with it instead.",
                field="user_id",
            )
        if user.id in on_team:
            name = user.display_name if len(bodies) > 1 else "This clinician"
            raise Duplicate(f"{name} is already on the team.", field="user_id")
        session.add(
            CareTeamMember(
                team_id=team.id or 0,
                user_id=user.id or 0,
                role=body.role,
                discipline=body.discipline or Discipline(user.discipline),
            )
        )
    return await _changed(session, team, actor, patient_id)


async def remove_member(
    session: AsyncSession, patient_id: int, member_id: int, *, expected_version: int, actor: Actor
) -> CareTeamPublic:
    """Take a clinician off the team; she loses access at once, live boards included."""
    await _visible_patient(session, patient_id, actor)
    team = await _team_of(session, patient_id, for_update=True)
    await _ensure_manages(session, team, actor)
    await _ensure_version(session, team, expected_version, actor)
    member = await session.get(CareTeamMember, member_id)
    if member is None or member.team_id != team.id:
        raise NotFound("No such member on this team.")
    await session.delete(member)
    return await _changed(session, team, actor, patient_id)


async def _changed(session: AsyncSession, team: CareTeam, actor: Actor, patient_id: int) -> CareTeamPublic:
    """Bump the team's version, audit, and tell every board of the patient (assignee lists change)."""
    team.version += 1
    session.add(team)
    await session.flush()
    audit.record(session, actor, AuditAction.update, "care_team", team.id, patient_id=patient_id)
    public = await _team_public(session, team)
    for hook in _team_changed:
        await hook(session, patient_id, public, actor)
    return public


async def _visible_patient(
    session: AsyncSession, patient_id: int, actor: Actor, *, for_update: bool = False
) -> Patient:
    query = select(Patient).where(Patient.id == patient_id, col(Patient.id).in_(visible_patient_ids(actor)))
    if for_update:
        query = query.with_for_update()
    patient = (await session.exec(query)).first()
    if patient is None:
        raise NotFound("No such patient.")
    return patient


async def _team_of(session: AsyncSession, patient_id: int, *, for_update: bool = False) -> CareTeam:
    query = select(CareTeam).where(CareTeam.patient_id == patient_id)
    if for_update:
        query = query.with_for_update()
    team = (await session.exec(query)).first()
    if team is None:
        raise NotFound("No such care team.")
    return team


async def _manages(session: AsyncSession, team: CareTeam, actor: Actor) -> bool:
    if actor.is_integration:
        # The EMR seats the team of a patient it registered (a FHIR import), while it has nobody on it yet.
        members = (await session.exec(select(func.count()).where(CareTeamMember.team_id == team.id))).one()
        return members == 0 and await is_shared(session, team.patient_id, actor.user_id)
    query = select(CareTeam.id).where(
        CareTeam.id == team.id, col(CareTeam.id).in_(manageable_team_ids(actor))
    )
    return (await session.exec(query)).first() is not None


async def _ensure_manages(session: AsyncSession, team: CareTeam, actor: Actor) -> None:
    if not await _manages(session, team, actor):
        raise Forbidden(
            "Only the team's lead, an IPM lead on the team, or an administrator changes the team."
        )


async def _ensure_version(session: AsyncSession, team: CareTeam, expected_version: int, actor: Actor) -> None:
    if team.version != expected_version:
        raise Conflict(
            "Someone changed this care team first.",
            current=await _team_public(session, team),
            actor=actor,
            shown=("care_team", team.id, team.patient_id),
        )


async def team_members(session: AsyncSession, patient_id: int) -> list[MemberPublic]:
    """The members of a patient's care team, leads first."""
    return (await patient_and_team(session, patient_id))[1]


async def patient_and_team(
    session: AsyncSession, patient_id: int
) -> tuple[PatientPublic, list[MemberPublic]]:
    """A patient and her care team's members (leads first), in one query; NotFound if no such patient.

    Not audited and not access-checked: for a caller that has checked and audits the read it serves
    (the board).
    """
    users = accounts.directory()
    rows = (
        await session.exec(
            select(Patient, CareTeamMember, users.c.username, users.c.display_name)
            .join(CareTeam, col(CareTeam.patient_id) == col(Patient.id))
            .outerjoin(CareTeamMember, col(CareTeamMember.team_id) == col(CareTeam.id))
            .outerjoin(users, users.c.id == col(CareTeamMember.user_id))
            .where(col(Patient.id) == patient_id)
            .order_by(col(CareTeamMember.role), users.c.display_name)
        )
    ).all()
    if not rows:
        raise NotFound("No such patient.")
    members = [
        MemberPublic(
            id=m.id or 0,
            user_id=m.user_id,
            username=username,
            display_name=display_name,
            role=TeamRole(m.role),
            discipline=Discipline(m.discipline),
        )
        for _, m, username, display_name in rows
        if m is not None
    ]
    return PatientPublic.model_validate(rows[0][0]), members


def patient_names() -> sa.Subquery:
    """Every patient's ``id`` and ``name`` as a subquery, for other features to join (a worklist's rows name
    their patient) without touching this feature's tables. Not access-checked: join it behind a filter."""
    return select(col(Patient.id), col(Patient.name)).subquery("patient_names")


async def patient_labels(
    session: AsyncSession, patient_ids: Iterable[int], *, actor: Actor
) -> dict[int, tuple[str, str]]:
    """MRN and name by patient id, for the patients among ``patient_ids`` the actor may see (an
    administrator: all), in one query; each one answered is audited as read, in one statement (the audit
    trail's page names the patients of its entries)."""
    ids = sorted(set(patient_ids))
    if not ids:
        return {}
    rows = (
        await session.exec(
            select(col(Patient.id), col(Patient.mrn), col(Patient.name)).where(
                col(Patient.id).in_(ids), col(Patient.id).in_(visible_patient_ids(actor))
            )
        )
    ).all()
    await audit.insert_reads(session, actor, "patient", ((pid, pid) for pid, _, _ in rows))
    return {int(pid or 0): (mrn, name) for pid, mrn, name in rows}


async def clinical_patient_choices(session: AsyncSession, *, actor: Actor) -> list[tuple[int, str]]:
    """The patients on the actor's care teams as (id, name), by name, for a filter; each audited as read."""
    rows = (
        await session.exec(
            select(Patient.id, Patient.name)
            .where(col(Patient.id).in_(clinical_patient_ids(actor)))
            .order_by(col(Patient.name), col(Patient.id))
        )
    ).all()
    await audit.insert_reads(session, actor, "patient", ((pid, pid) for pid, _ in rows))
    return [(int(pid or 0), name) for pid, name in rows]


async def membership(
    session: AsyncSession, patient_id: int, user_id: int
) -> tuple[TeamRole, Discipline] | None:
    """The user's role and discipline on the patient's care team, or None if she is not on it."""
    row = (
        await session.exec(
            select(CareTeamMember.role, CareTeamMember.discipline)
            .join(CareTeam, col(CareTeam.id) == col(CareTeamMember.team_id))
            .where(CareTeam.patient_id == patient_id, CareTeamMember.user_id == user_id)
        )
    ).first()
    return None if row is None else (TeamRole(row[0]), Discipline(row[1]))


async def ensure_clinical_patient(session: AsyncSession, patient_id: int, *, actor: Actor) -> None:
    """The patient is on one of the actor's care teams (else a field error naming ``patient_id``)."""
    readable = select(CareTeam.patient_id).where(
        CareTeam.patient_id == patient_id,
        col(CareTeam.patient_id).in_(clinical_patient_ids(actor)),
    )
    if (await session.exec(readable)).first() is None:
        raise ValidationFailed("No patient with this id on your care teams.", field="patient_id")


# Run in the same unit of work after a patient's care team changed, with the team as it is now. How other
# features show the change without this one knowing them (plans put it on the patient's live boards).
TeamChanged = Callable[[AsyncSession, int, CareTeamPublic, Actor], Awaitable[None]]
_team_changed: list[TeamChanged] = []


def on_team_changed(hook: TeamChanged) -> None:
    """Call ``hook(session, patient_id, team, actor)`` after every change to a care team's members."""
    if hook not in _team_changed:
        _team_changed.append(hook)


async def _team_public(session: AsyncSession, team: CareTeam) -> CareTeamPublic:
    members = await team_members(session, team.patient_id)
    return CareTeamPublic(
        id=team.id or 0,
        patient_id=team.patient_id,
        name=team.name,
        status=CareTeamStatus(team.status),
        version=team.version,
        members=members,
    )


async def admit_to_team(session: AsyncSession, patient_id: int, user_id: int, *, actor: Actor) -> bool:
    """Put ``actor`` (``user_id``) on the patient's care team as a member, because a referral she accepted
    says so; the caller has checked that. Audited, and every board of the patient shows the new team.

    False (and nothing changed) if she is on the team already.
    """
    team = await _team_of(session, patient_id, for_update=True)
    if await membership(session, patient_id, user_id) is not None:
        return False
    user = await accounts.active_user(session, user_id)
    if user is None:
        raise ValidationFailed("No active clinician with this id.", field="user_id")
    session.add(
        CareTeamMember(
            team_id=team.id or 0,
            user_id=user_id,
            role=TeamRole.member,
            discipline=Discipline(user.discipline),
        )
    )
    await _changed(session, team, actor, patient_id)
    return True


async def patient_cards(session: AsyncSession, patient_ids: Iterable[int]) -> dict[int, tuple[str, date]]:
    """Name and birth date by patient id, in one query: the minimal card a referral shows. Not audited:
    for a caller that has checked access and audits what it shows."""
    ids = sorted(set(patient_ids))
    if not ids:
        return {}
    rows = await session.exec(
        select(col(Patient.id), col(Patient.name), col(Patient.birth_date)).where(col(Patient.id).in_(ids))
    )
    return {int(pid or 0): (name, born) for pid, name, born in rows}


async def clinical_patients_among(
    session: AsyncSession, patient_ids: Iterable[int], *, actor: Actor
) -> set[int]:
    """Which of these patients are on the actor's care teams, in one query."""
    ids = sorted(set(patient_ids))
    if not ids:
        return set()
    rows = await session.exec(
        select(col(CareTeam.patient_id)).where(
            col(CareTeam.patient_id).in_(ids), col(CareTeam.patient_id).in_(clinical_patient_ids(actor))
        )
    )
    return {int(pid) for pid in rows}


def lane_member_ids(
    patient_id: sa.ColumnElement[int], discipline: sa.ColumnElement[str]
) -> sa.ScalarSelect[Any]:
    """``member_ids`` of one discipline as an expression for another feature's statement: the ids
    comma-separated, NULL when there are none (``parse_ids``). A write that reads its row with it learns
    whom its lane concerns in the same round trip."""
    members, teams = CareTeamMember.__table__, CareTeam.__table__  # type: ignore[attr-defined]
    return (
        sa.select(sa.func.aggregate_strings(sa.cast(members.c.user_id, sa.String), ","))
        .select_from(members.join(teams, teams.c.id == members.c.team_id))
        .where(teams.c.patient_id == patient_id, members.c.discipline == discipline)
        .scalar_subquery()
    )


def parse_ids(joined: str | None) -> frozenset[int]:
    """The ids of a ``lane_member_ids`` column."""
    return frozenset(int(i) for i in joined.split(",")) if joined else frozenset()


async def member_ids(session: AsyncSession, patient_id: int, disciplines: Iterable[str]) -> list[int]:
    """The user ids of the patient's care team members of these disciplines, in one small query (no names):
    whom an unassigned task in their lane concerns."""
    rows = await session.exec(
        select(col(CareTeamMember.user_id))
        .join(CareTeam, col(CareTeam.id) == col(CareTeamMember.team_id))
        .where(
            col(CareTeam.patient_id) == patient_id, col(CareTeamMember.discipline).in_(sorted(disciplines))
        )
    )
    return [int(user_id) for user_id in rows]


async def team_disciplines(
    session: AsyncSession, patient_ids: Iterable[int]
) -> dict[int, dict[int, Discipline]]:
    """Each patient's care team as user id -> discipline on the team, in one query whatever their number."""
    ids = sorted(set(patient_ids))
    teams: dict[int, dict[int, Discipline]] = {pid: {} for pid in ids}
    if not ids:
        return teams
    rows = await session.exec(
        select(col(CareTeam.patient_id), col(CareTeamMember.user_id), col(CareTeamMember.discipline))
        .join(CareTeam, col(CareTeam.id) == col(CareTeamMember.team_id))
        .where(col(CareTeam.patient_id).in_(ids))
    )
    for patient_id, user_id, discipline in rows:
        teams[int(patient_id)][int(user_id)] = Discipline(discipline)
    return teams


async def member_disciplines(session: AsyncSession, user_id: int) -> list[str]:
    """The disciplines the clinician holds on any care team (usually one: her own)."""
    rows = await session.exec(
        select(col(CareTeamMember.discipline)).where(col(CareTeamMember.user_id) == user_id).distinct()
    )
    return sorted(str(d) for d in rows)


async def team_member_ids(session: AsyncSession, patient_ids: Iterable[int]) -> dict[int, set[int]]:
    """The user ids on each of these patients' care teams, by patient id, in one query (not audited)."""
    ids = sorted(set(patient_ids))
    if not ids:
        return {}
    rows = await session.exec(
        select(col(CareTeam.patient_id), col(CareTeamMember.user_id))
        .join(CareTeamMember, col(CareTeamMember.team_id) == col(CareTeam.id))
        .where(col(CareTeam.patient_id).in_(ids))
    )
    members: dict[int, set[int]] = {}
    for patient_id, user_id in rows:
        members.setdefault(int(patient_id), set()).add(int(user_id))
    return members


async def team_patient_id(session: AsyncSession, team_id: int) -> int | None:
    """Whose care team this is (None: no such team). Not access-checked: a caller reads the team through
    ``get_team``, which is."""
    return (await session.exec(select(col(CareTeam.patient_id)).where(CareTeam.id == team_id))).first()


async def team_id_of(session: AsyncSession, patient_id: int) -> int:
    """The id of the patient's care team (every patient has one). Not access-checked."""
    return (await _team_of(session, patient_id)).id or 0


async def shares(session: AsyncSession, patient_id: int, *, actor: Actor) -> list[SharePublic]:
    """The EMR interface accounts this patient is shared with (whoever may see her care team)."""
    await _visible_patient(session, patient_id, actor)
    users = accounts.directory()
    rows = await session.exec(
        select(PatientShare, users.c.display_name)
        .join(users, users.c.id == col(PatientShare.user_id))
        .where(PatientShare.patient_id == patient_id)
        .order_by(col(PatientShare.id))
    )
    return [
        SharePublic(user_id=share.user_id, display_name=name, shared_at=share.shared_at)
        for share, name in rows
    ]


async def share_patient(session: AsyncSession, patient_id: int, user_id: int, *, actor: Actor) -> SharePublic:
    """Let an EMR interface account work on this patient through FHIR (those who manage her care team);
    sharing again changes nothing."""
    await _visible_patient(session, patient_id, actor)
    await _ensure_manages(session, await _team_of(session, patient_id), actor)
    account = await accounts.active_user(session, user_id)
    if account is None or account.role != ClinicRole.integration:
        raise ValidationFailed("Share a patient with an active EMR interface account only.", field="user_id")
    found = await _share(session, patient_id, user_id)
    if found is None:
        found = PatientShare(patient_id=patient_id, user_id=user_id, shared_by_id=actor.user_id)
        session.add(found)
        await session.flush()
        audit.record(session, actor, AuditAction.create, "patient_share", found.id, patient_id=patient_id)
    return SharePublic(user_id=user_id, display_name=account.display_name, shared_at=found.shared_at)


async def unshare_patient(session: AsyncSession, patient_id: int, user_id: int, *, actor: Actor) -> None:
    """Take the patient back from an EMR interface account (those who manage her care team)."""
    await _visible_patient(session, patient_id, actor)
    await _ensure_manages(session, await _team_of(session, patient_id), actor)
    found = await _share(session, patient_id, user_id)
    if found is None:
        raise NotFound("This patient is not shared with that account.")
    await session.delete(found)
    audit.record(session, actor, AuditAction.delete, "patient_share", found.id, patient_id=patient_id)
    await session.flush()


async def is_shared(session: AsyncSession, patient_id: int, user_id: int) -> bool:
    """Whether the patient is shared with this EMR interface account."""
    return await _share(session, patient_id, user_id) is not None


async def _share(session: AsyncSession, patient_id: int, user_id: int) -> PatientShare | None:
    query = select(PatientShare).where(PatientShare.patient_id == patient_id, PatientShare.user_id == user_id)
    return (await session.exec(query)).first()
