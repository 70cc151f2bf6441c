"""Every route against every kind of caller, from one expected table: no unexpected access.

Callers: anonymous, each discipline on the patient's care team (the IPM lead as team lead), a clinician of
another team, a removed team member, and an administrator who is not on the team.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from careteam.accounts.sessions import HANDLE_LENGTH, handle_of, open_session
from careteam.accounts.tables import User
from careteam.conferences.tables import Conference, ConferenceItem, ConferenceMember
from careteam.conversations.tables import Conversation, ConversationMember, ConversationMessage
from careteam.core.vocab import ClinicRole, Discipline
from careteam.db.types import utcnow
from careteam.medications.tables import Medication
from careteam.messaging.render import render
from careteam.messaging.tables import Message, MessageAckRequired
from careteam.outcomes.tables import Observation, ProcedureResponse
from careteam.patients.codes import TeamRole
from careteam.patients.tables import CareTeam, CareTeamMember, PatientShare
from careteam.plans.tables import Goal, Task
from careteam.protocols.tables import ProtocolTemplate
from careteam.referrals.tables import Referral
from tests.factories import PASSWORD, make_patient, make_plan, make_template, make_user

ON_TEAM = [d.value for d in Discipline]  # ipm_lead is the team's lead
PERSONAS = ["anonymous", *ON_TEAM, "other_team", "removed", "admin", "emr"]
# What an EMR interface account (``emr``, the patient shared with it) may call outside /fhir/R4.
EMR_ROUTES = {
    "GET /api/v1/me": 200,
    "POST /api/v1/me/password": 204,
    "GET /api/v1/me/sessions": 200,
    "DELETE /api/v1/me/sessions/{session_id}": 204,
}
PLANNERS = {"ipm_lead", "physician"}
CONVERSING = {"nurse", "physician"}  # the conversation's participants still on the care team
# The conference's participants: the lead facilitates, the nurse and a clinician of another team attend
# (the agenda's plan is lent to her for the conference), the physical therapist observes.
TEMPLATE = {
    "name": "Opioid taper",
    "status": "active",
    "goals": [{"description": "Taper to under 50 MME/day", "due_offset_days": 112}],
    "tasks": [
        {"key": "plan", "title": "Opioid taper plan", "discipline": "pharmacist", "due_offset_days": 7}
    ],
}
CONFERRING = {"ipm_lead", "nurse", "other_team", "physical_therapist"}


@dataclass
class World:
    patient_id: int
    plan_id: int
    task_id: int
    goal_id: int
    spare_member_id: int
    candidate_id: int
    user_id: int
    referral_id: int
    message_id: int  # the nurse's, which she edits
    removable_id: int  # the nurse's, which she or the lead removes
    conversation_id: int  # the nurse's with the physician and the removed member, about the patient
    said_id: int  # the nurse's message in it, which she edits
    unsaid_id: int  # the nurse's message in it, which she removes
    colleague_ids: tuple[int, int]  # the nurse and the physician: whom a new conversation names
    batch_ids: tuple[int, int]  # two clinicians on no team, whom the batch route adds at once
    conference_id: int = 0  # running now, with the plan on its agenda
    item_id: int = 0
    own_session: str = ""  # the handle of another session of the caller's, which she revokes
    user_session: str = ""  # the handle of a session of user_id's, which an administrator revokes
    observation_id: int = 0  # the nurse's NRS score on the plan, which anyone on the team withdraws
    medication_id: int = 0  # duloxetine on the plan, which its prescribers and reviewers change
    emr_id: int = 0  # an EMR interface account the patient is shared with
    response_id: int = 0  # the physician's block response on the task, which anyone on the team withdraws
    template_id: int = 0  # an active protocol template, which IPM leads edit and planners apply


def expect(route: str, persona: str) -> int:
    """The one expected table: status code per (route, persona)."""
    anonymous = persona == "anonymous"
    on_team = persona in ON_TEAM
    lead = persona == "ipm_lead"
    admin = persona == "admin"
    psychologist = persona == "psychologist"
    prescribes = persona in {"ipm_lead", "physician", "nurse", "pharmacist"}
    if anonymous:
        return 401
    if persona == "emr":
        return EMR_ROUTES.get(route, 403)
    table: dict[str, int] = {
        "GET /api/v1/me": 200,
        "GET /api/v1/users": 200,
        "POST /api/v1/users": 201 if admin else 403,
        "GET /api/v1/users/{user_id}": 200,
        "PATCH /api/v1/users/{user_id}": 200 if admin else 403,
        "POST /api/v1/users/{user_id}/password-reset": 200 if admin else 403,
        "POST /api/v1/me/password": 204,  # her own, whoever she is (the current password is checked)
        "GET /api/v1/me/sessions": 200,  # her own sessions and tokens, whoever she is
        "DELETE /api/v1/me/sessions/{session_id}": 204,
        "GET /api/v1/users/{user_id}/sessions": 200 if admin else 403,
        "DELETE /api/v1/users/{user_id}/sessions/{session_id}": 204 if admin else 403,
        "GET /api/v1/patients": 200,
        "POST /api/v1/patients": 201 if (admin or lead) else 403,
        "GET /api/v1/patients/{patient_id}": 200 if (on_team or admin) else 404,
        "PATCH /api/v1/patients/{patient_id}": 200 if (lead or admin) else 403 if on_team else 404,
        "GET /api/v1/patients/{patient_id}/care-team": 200 if (on_team or admin) else 404,
        "PATCH /api/v1/patients/{patient_id}/care-team": 200 if (lead or admin) else 403 if on_team else 404,
        "POST /api/v1/patients/{patient_id}/care-team/members": 201
        if (lead or admin)
        else 403
        if on_team
        else 404,
        "POST /api/v1/patients/{patient_id}/care-team/members/batch": 201
        if (lead or admin)
        else 403
        if on_team
        else 404,
        "DELETE /api/v1/patients/{patient_id}/care-team/members/{member_id}": 200
        if (lead or admin)
        else 403
        if on_team
        else 404,
        # Sharing with the EMR's interface account: for those who manage the team, like its membership.
        "GET /api/v1/patients/{patient_id}/shares": 200 if (on_team or admin) else 404,
        "POST /api/v1/patients/{patient_id}/shares": 201 if (lead or admin) else 403 if on_team else 404,
        "DELETE /api/v1/patients/{patient_id}/shares/{user_id}": 204
        if (lead or admin)
        else 403
        if on_team
        else 404,
        "GET /api/v1/plans": 200,
        # Creating a plan names the patient in the body: a patient off your teams is a field error, not a 404.
        "POST /api/v1/plans": 201 if persona in PLANNERS else 403 if on_team else 422,
        "GET /api/v1/plans/{plan_id}": 200 if on_team else 404,
        "PATCH /api/v1/plans/{plan_id}": 200 if persona in PLANNERS else 403 if on_team else 404,
        "POST /api/v1/plans/{plan_id}/goals": 201 if persona in PLANNERS else 403 if on_team else 404,
        "PATCH /api/v1/goals/{goal_id}": 200 if persona in PLANNERS else 403 if on_team else 404,
        "GET /api/v1/plans/{plan_id}/events": 200 if on_team else 404,
        "GET /api/v1/plans/{plan_id}/tasks": 200 if on_team else 404,
        "POST /api/v1/plans/{plan_id}/tasks": 201 if on_team else 404,
        "GET /api/v1/tasks/{task_id}": 200 if on_team else 404,
        "PATCH /api/v1/tasks/{task_id}": 200 if on_team else 404,
        # Undo and Reopen: the team's, but the world's task is open (nothing to undo or reopen: 409); who
        # may make which move is walked for every role in tests/plans/test_task_rules.py.
        "POST /api/v1/tasks/{task_id}/undo": 409 if on_team else 404,
        "POST /api/v1/tasks/{task_id}/reopen": 409 if on_team else 404,
        "PUT /api/v1/tasks/{task_id}/gates": 200 if on_team else 404,
        "GET /api/v1/audit": 200 if admin else 403,
        # Referrals: every persona may list (each sees her own); the plan's team reads them; the team's
        # lead and physicians refer, change and revoke; the psychology pool (the referral's discipline)
        # answers. In route order the psychologist accepts, cannot claim what she accepted, completes,
        # then cannot decline what is completed. Off the team and out of the pool: nothing exists.
        "GET /api/v1/me/notifications": 200,  # her own inbox, whoever she is
        "POST /api/v1/me/notifications/read": 200,
        "GET /api/v1/referrals": 200,
        "POST /api/v1/referrals": 201 if persona in PLANNERS else 403 if on_team else 422,
        "GET /api/v1/referrals/{referral_id}": 200 if on_team else 404,
        "PATCH /api/v1/referrals/{referral_id}": 200 if persona in PLANNERS else 403 if on_team else 404,
        "POST /api/v1/referrals/{referral_id}/accept": 200 if psychologist else 403 if on_team else 404,
        "POST /api/v1/referrals/{referral_id}/claim": 409 if psychologist else 403 if on_team else 404,
        "POST /api/v1/referrals/{referral_id}/complete": 200 if psychologist else 403 if on_team else 404,
        "POST /api/v1/referrals/{referral_id}/decline": 409 if psychologist else 403 if on_team else 404,
        "POST /api/v1/referrals/{referral_id}/revoke": 200
        if persona in PLANNERS
        else 403
        if on_team
        else 404,
        # Messages: the plan's team reads and writes its threads; only the author (the nurse) edits her
        # message, and she or the team's lead removes one; off the team nothing exists.
        "GET /api/v1/plans/{plan_id}/messages": 200 if on_team else 404,
        "POST /api/v1/plans/{plan_id}/messages": 201 if on_team else 404,
        "GET /api/v1/tasks/{task_id}/messages": 200 if on_team else 404,
        "POST /api/v1/tasks/{task_id}/messages": 201 if on_team else 404,
        "PATCH /api/v1/messages/{message_id}": 200 if persona == "nurse" else 403 if on_team else 404,
        "DELETE /api/v1/messages/{message_id}": 200
        if persona in ("nurse", "ipm_lead")
        else 403
        if on_team
        else 404,
        # Anyone on the team makes a task of a message on its plan; off the team nothing exists.
        "POST /api/v1/messages/{message_id}/task": 201 if on_team else 404,
        # Read state: the team marks its threads read and sees who read a message; her own counts and
        # "read all" are hers, whoever she is (one on no team has none).
        "POST /api/v1/plans/{plan_id}/messages/read": 200 if on_team else 404,
        "POST /api/v1/tasks/{task_id}/messages/read": 200 if on_team else 404,
        "GET /api/v1/messages/{message_id}": 200 if on_team else 404,
        "GET /api/v1/messages/{message_id}/seen": 200 if on_team else 404,
        "GET /api/v1/me/unread": 200,
        "POST /api/v1/me/messages/read-all": 200,
        # The nurse's message is urgent for each physician and physical therapist: they acknowledge it, the
        # rest of the team is not asked; off the team (the removed physical therapist too) nothing exists.
        "POST /api/v1/messages/{message_id}/ack": 200
        if persona in ("physician", "physical_therapist")
        else 403
        if on_team
        else 404,
        # Her own work: everyone signed in has a list (empty for one on no team).
        "GET /api/v1/me/work": 200,
        "GET /api/v1/me/work/due": 200,
        # Search: everyone signed in may search; what she finds is filtered (tests/search), never refused.
        "GET /api/v1/search": 200,
        # A conversation about the patient: the nurse started it with the physician and the member since
        # removed; only participants on the care team now read it, only its author changes her messages.
        # Starting one about the patient: anyone on her team; for anyone else the patient is a field error.
        "POST /api/v1/conversations": 201 if on_team else 422,
        "GET /api/v1/conversations": 200,
        "GET /api/v1/conversations/{conversation_id}": 200 if persona in CONVERSING else 404,
        "GET /api/v1/conversations/{conversation_id}/messages": 200 if persona in CONVERSING else 404,
        "POST /api/v1/conversations/{conversation_id}/messages": 201 if persona in CONVERSING else 404,
        "POST /api/v1/conversations/{conversation_id}/read": 200 if persona in CONVERSING else 404,
        "PATCH /api/v1/conversation-messages/{message_id}": 200
        if persona == "nurse"
        else 403
        if persona in CONVERSING
        else 404,
        "DELETE /api/v1/conversation-messages/{message_id}": 200
        if persona == "nurse"
        else 403
        if persona in CONVERSING
        else 404,
        "POST /api/v1/me/conversations/read-all": 200,
        "GET /api/v1/me/messages/unread": 200,
        # Conferences: participants read; the facilitator (the lead) runs it, observers and attendees are
        # refused; scheduling is an IPM lead's, and the admin (an IPM lead off the team) may not put the
        # plan on an agenda. Presence is every participant's.
        "GET /api/v1/conferences": 200,
        "GET /api/v1/conferences/suggestions": 200,
        "POST /api/v1/conferences": 201 if lead else 422 if admin else 403,
        **{
            f"GET /api/v1/conferences/{{conference_id}}{tail}": 200 if persona in CONFERRING else 404
            for tail in ("", "/attendance", "/items/{item_id}/changes", "/presence", "/summary")
        },
        **{
            route: 200 if lead else 403 if persona in CONFERRING else 404
            for route in (
                "PATCH /api/v1/conferences/{conference_id}",
                "PATCH /api/v1/conferences/{conference_id}/items/{item_id}",
                "POST /api/v1/conferences/{conference_id}/advance",
            )
        },
        "POST /api/v1/conferences/{conference_id}/items/{item_id}/decisions": 201
        if lead
        else 403
        if persona in CONFERRING
        else 404,
        "POST /api/v1/conferences/{conference_id}/leave": 200 if persona in CONFERRING else 404,
        "POST /api/v1/conferences/{conference_id}/presence": 200 if persona in CONFERRING else 404,
        # Outcome measures: the care team records, reads and withdraws; a plan lent to a conference's
        # invitee (other_team) is its board only, never its scores.
        "GET /api/v1/plans/{plan_id}/measures": 200 if on_team else 404,
        "POST /api/v1/plans/{plan_id}/measures": 201 if on_team else 404,
        "POST /api/v1/measures/{observation_id}/entered-in-error": 200 if on_team else 404,
        # Medications: the care team reads them; its physicians, nurses, pharmacists and lead change them.
        "GET /api/v1/plans/{plan_id}/medications": 200 if on_team else 404,
        "POST /api/v1/plans/{plan_id}/medications": (201 if prescribes else 403) if on_team else 404,
        "PATCH /api/v1/medications/{medication_id}": (200 if prescribes else 403) if on_team else 404,
        # Goals' progress and blocks' responses: the care team's, as its scores are.
        "GET /api/v1/plans/{plan_id}/goal-progress": 200 if on_team else 404,
        "GET /api/v1/tasks/{task_id}/responses": 200 if on_team else 404,
        "POST /api/v1/tasks/{task_id}/responses": 201 if on_team else 404,
        "POST /api/v1/responses/{response_id}/entered-in-error": 200 if on_team else 404,
        # Protocol templates hold no patient data: everyone signed in reads them, IPM leads (by their
        # account's discipline: the administrator here is one) keep them, the plan's planners apply one.
        "GET /api/v1/templates": 200,
        "POST /api/v1/templates": 201 if (lead or admin) else 403,
        "GET /api/v1/templates/{template_id}": 200,
        "PUT /api/v1/templates/{template_id}": 200 if (lead or admin) else 403,
        "POST /api/v1/plans/{plan_id}/apply-template": 201
        if persona in PLANNERS
        else 403
        if on_team
        else 404,
    }
    return table[route]


PUBLIC = {"POST /api/v1/auth/token"}  # signing in needs no session, by definition


def api_routes(app: Any) -> list[str]:
    """Every JSON route, from the OpenAPI document (the public contract lists them all)."""
    paths = app.openapi()["paths"]
    out = [
        f"{method.upper()} {path}"
        for path, ops in paths.items()
        if path.startswith("/api/")
        for method in ops
    ]
    assert len(out) > 20
    return sorted(out)


def test_table_covers_every_api_route() -> None:
    from careteam.app import create_app

    app = create_app()
    routes = set(api_routes(app)) - PUBLIC
    for route in routes:
        expect(route, "nurse")  # KeyError names a route the table forgot


async def _world(db: Any, persona: str, settings: Any) -> tuple[World, str | None]:
    async with db() as s:
        users = {d: await make_user(s, f"on_{d}", discipline=Discipline(d)) for d in ON_TEAM}
        other = await make_user(s, "other_nurse", discipline=Discipline.nurse)
        removed = await make_user(s, "removed_pt", discipline=Discipline.physical_therapist)
        await make_user(s, "admin1", discipline=Discipline.ipm_lead, role=ClinicRole.admin)
        spare = await make_user(s, "spare_sw", discipline=Discipline.social_worker)
        candidate = await make_user(s, "candidate_ot", discipline=Discipline.occupational_therapist)
        emr = await make_user(s, "emr_iface", role=ClinicRole.integration)
        batch = [
            await make_user(s, "batch_pharm", discipline=Discipline.pharmacist),
            await make_user(s, "batch_psych", discipline=Discipline.psychologist),
        ]
        members = [(u, TeamRole.lead if d == "ipm_lead" else TeamRole.member) for d, u in users.items()]
        patient = await make_patient(
            s, members=[*members, (removed, TeamRole.member), (spare, TeamRole.member)]
        )
        await make_patient(s, members=[(other, TeamRole.member)])
        plan = await make_plan(s, patient)
        task = Task(plan_id=plan.id or 0, title="UDS due", discipline="nurse")
        goal = Goal(plan_id=plan.id or 0, description="Walk 30 minutes daily")
        s.add_all([task, goal])
        await s.flush()
        team = (await s.exec(select(CareTeam).where(CareTeam.patient_id == patient.id))).one()
        gone = (
            await s.exec(
                select(CareTeamMember).where(
                    CareTeamMember.team_id == team.id, CareTeamMember.user_id == removed.id
                )
            )
        ).one()
        await s.delete(gone)
        spare_member = (await s.exec(select(CareTeamMember).where(CareTeamMember.user_id == spare.id))).one()
        referral = Referral(
            plan_id=plan.id or 0,
            patient_id=patient.id or 0,
            requester_id=users["ipm_lead"].id or 0,
            discipline="psychologist",
            reason="CBT for pain catastrophising (PCS 34)",
            respond_by=utcnow() + timedelta(days=14),
        )
        s.add(referral)
        notes = [
            Message(
                plan_id=plan.id or 0,
                patient_id=patient.id or 0,
                author_id=users["nurse"].id or 0,
                body=body,
                html=render(body),
            )
            for body in ("PDMP check done", "UDS due")
        ]
        s.add_all(notes)
        await s.flush()
        s.add_all(
            MessageAckRequired(message_id=notes[0].id or 0, discipline=d, mode="each")
            for d in ("physician", "physical_therapist")
        )
        await s.flush()
        conversation = Conversation(patient_id=patient.id, created_by=users["nurse"].id or 0)
        s.add(conversation)
        await s.flush()
        s.add_all(
            ConversationMember(conversation_id=conversation.id or 0, user_id=u.id or 0)
            for u in (users["nurse"], users["physician"], removed)
        )
        said = [
            ConversationMessage(
                conversation_id=conversation.id or 0,
                author_id=users["nurse"].id or 0,
                body=body,
                html=render(body),
            )
            for body in ("Block done, 70% relief", "Hourly diary please")
        ]
        s.add_all(said)
        await s.flush()
        conversation.last_message_id = said[1].id
        now = utcnow()
        conference = Conference(
            title="Spine MDT",
            team="Spine MDT",
            starts_at=now,
            facilitator_id=users["ipm_lead"].id or 0,
            created_by_id=users["ipm_lead"].id or 0,
            access_from=now - timedelta(minutes=30),
            access_until=now + timedelta(hours=2),
        )
        s.add(conference)
        await s.flush()
        s.add_all(
            ConferenceMember(conference_id=conference.id or 0, user_id=u.id or 0, role=role)
            for u, role in (
                (users["ipm_lead"], "facilitator"),
                (users["nurse"], "attendee"),
                (other, "attendee"),
                (users["physical_therapist"], "observer"),
            )
        )
        item = ConferenceItem(
            conference_id=conference.id or 0,
            plan_id=plan.id or 0,
            patient_id=patient.id or 0,
            position=1,
            reason="Decide on RFA after two positive MBBs",
        )
        s.add(item)
        score = Observation(
            plan_id=plan.id or 0,
            patient_id=patient.id or 0,
            measure="nrs",
            value=6,
            effective_at=now,
            author_id=users["nurse"].id or 0,
        )
        s.add(score)
        s.add(
            PatientShare(
                patient_id=patient.id or 0, user_id=emr.id or 0, shared_by_id=users["ipm_lead"].id or 0
            )
        )
        medication = Medication(
            plan_id=plan.id or 0,
            patient_id=patient.id or 0,
            drug="duloxetine",
            drug_class="other",
            dose=60,
            unit="mg",
            frequency="daily",
            route="oral",
            start_date=now.date(),
            status_since=now.date(),
            author_id=users["physician"].id or 0,
            updated_by_id=users["physician"].id or 0,
        )
        s.add(medication)
        await s.flush()
        block = ProcedureResponse(
            task_id=task.id or 0,
            plan_id=plan.id or 0,
            patient_id=patient.id or 0,
            relief_percent=80,
            duration_hours=6,
            threshold=80,
            observed_at=now,
            author_id=users["physician"].id or 0,
        )
        s.add(block)
        await s.flush()
        username = {
            "anonymous": None,
            "other_team": "other_nurse",
            "removed": "removed_pt",
            "admin": "admin1",
            "emr": "emr_iface",
        }.get(persona, f"on_{persona}")
        caller = (await s.exec(select(User).where(User.username == username))).first()
        own = "0" * HANDLE_LENGTH
        if caller is not None:
            own = handle_of((await open_session(s, caller, kind="bearer", settings=settings)).record.id)
        spares = await open_session(s, spare, kind="bearer", settings=settings)
        world = World(
            patient.id or 0,
            plan.id or 0,
            task.id or 0,
            goal.id or 0,
            spare_member.id or 0,
            candidate.id or 0,
            spare.id or 0,
            referral.id or 0,
            notes[0].id or 0,
            notes[1].id or 0,
            conversation.id or 0,
            said[0].id or 0,
            said[1].id or 0,
            (users["nurse"].id or 0, users["physician"].id or 0),
            (batch[0].id or 0, batch[1].id or 0),
            conference.id or 0,
            item.id or 0,
            own,
            handle_of(spares.record.id),
            score.id or 0,
            medication.id or 0,
            emr.id or 0,
            block.id or 0,
            await make_template(s, users["ipm_lead"].id or 0),
        )
    return world, username


def _request(route: str, w: World) -> tuple[str, str, dict[str, Any] | None]:
    method, path = route.split(" ", 1)
    path = path.format(
        user_id=w.emr_id if "/shares/" in path else w.user_id,
        patient_id=w.patient_id,
        member_id=w.spare_member_id,
        plan_id=w.plan_id,
        goal_id=w.goal_id,
        task_id=w.task_id,
        referral_id=w.referral_id,
        message_id=(
            (w.unsaid_id if method == "DELETE" else w.said_id)
            if "/conversation-messages/" in path
            else w.removable_id
            if method == "DELETE"
            else w.message_id
        ),
        conversation_id=w.conversation_id,
        conference_id=w.conference_id,
        item_id=w.item_id,
        session_id=w.own_session if path.startswith("/api/v1/me/") else w.user_session,
        observation_id=w.observation_id,
        medication_id=w.medication_id,
        response_id=w.response_id,
        template_id=w.template_id,
    )
    if path == "/api/v1/search":
        path += "?q=UDS"
    bodies: dict[str, dict[str, Any]] = {
        "POST /api/v1/users": {
            "username": "newbie",
            "display_name": "New Nurse",
            "discipline": "nurse",
            "password": "long enough",
        },
        "PATCH /api/v1/users/{user_id}": {"display_name": "Renamed"},
        "POST /api/v1/patients": {"mrn": "NEW-1", "name": "New Patient", "birth_date": "1980-02-02"},
        "PATCH /api/v1/patients/{patient_id}": {"name": "Renamed Patient"},
        "PATCH /api/v1/patients/{patient_id}/care-team": {"name": "Renamed team"},
        "POST /api/v1/patients/{patient_id}/care-team/members": {"user_id": w.candidate_id},
        "POST /api/v1/patients/{patient_id}/shares": {"user_id": w.emr_id},
        "POST /api/v1/patients/{patient_id}/care-team/members/batch": {
            "members": [{"user_id": w.batch_ids[0]}, {"user_id": w.batch_ids[1], "role": "lead"}]
        },
        "POST /api/v1/me/password": {"current_password": PASSWORD, "new_password": "a new passphrase"},
        "POST /api/v1/plans": {"patient_id": w.patient_id, "title": "Second plan"},
        "PATCH /api/v1/plans/{plan_id}": {"title": "Renamed plan"},
        "POST /api/v1/plans/{plan_id}/goals": {"description": "Sleep 6 hours"},
        "PATCH /api/v1/goals/{goal_id}": {"target": "by March"},
        "POST /api/v1/plans/{plan_id}/tasks": {"title": "PDMP check", "discipline": "nurse"},
        "PATCH /api/v1/tasks/{task_id}": {"title": "UDS due today"},
        "PUT /api/v1/tasks/{task_id}/gates": {"gate_task_ids": []},
        "POST /api/v1/referrals": {
            "plan_id": w.plan_id,
            "discipline": "physical_therapist",
            "reason": "Core stabilisation after MBB",
        },
        "PATCH /api/v1/referrals/{referral_id}": {"priority": "urgent"},
        "POST /api/v1/referrals/{referral_id}/complete": {"outcome": "6 sessions; PCS 34 -> 18."},
        "POST /api/v1/referrals/{referral_id}/decline": {"reason": "Seen last month."},
        "POST /api/v1/referrals/{referral_id}/revoke": {"reason": "Moved to another clinic."},
        "POST /api/v1/me/notifications/read": {"all": True},
        "POST /api/v1/plans/{plan_id}/messages": {"body": "@team conference Thursday: decide on RFA"},
        "POST /api/v1/tasks/{task_id}/messages": {"body": "Called the patient; UDS booked"},
        "PATCH /api/v1/messages/{message_id}": {"body": "PDMP check done, no other prescribers"},
        "POST /api/v1/plans/{plan_id}/messages/read": {},
        "POST /api/v1/tasks/{task_id}/messages/read": {"up_to": w.message_id},
        "POST /api/v1/messages/{message_id}/task": {"title": "Review the sleep diary"},
        "POST /api/v1/conversations": {
            "participants": list(w.colleague_ids),
            "patient_id": w.patient_id,
            "body": "Lost job, insurance lapse: can you see her this week?",
        },
        "POST /api/v1/conversations/{conversation_id}/messages": {"body": "Discuss before next prescription"},
        "PATCH /api/v1/conversation-messages/{message_id}": {"body": "Block done, 75% relief"},
        "POST /api/v1/conferences": {
            "title": "Spine MDT, next week",
            "starts_at": (utcnow() + timedelta(days=7)).isoformat(),
            "items": [{"plan_id": w.plan_id, "reason": "SCS trial candidate: gates"}],
        },
        "PATCH /api/v1/conferences/{conference_id}": {"title": "Spine MDT, room 2"},
        "PATCH /api/v1/conferences/{conference_id}/items/{item_id}": {"minutes": "Two positive MBBs."},
        "POST /api/v1/conferences/{conference_id}/advance": {},
        "POST /api/v1/conferences/{conference_id}/items/{item_id}/decisions": {"text": "Proceed to RFA"},
        "POST /api/v1/plans/{plan_id}/measures": {"measure": "peg", "items": [7, 6, 8]},
        "POST /api/v1/measures/{observation_id}/entered-in-error": {"reason": "Recorded on the wrong plan"},
        "POST /api/v1/plans/{plan_id}/medications": {"drug": "pregabalin", "dose": 75, "frequency": "bid"},
        "PATCH /api/v1/medications/{medication_id}": {"note": "Review duloxetine titration"},
        "POST /api/v1/tasks/{task_id}/responses": {"relief_percent": 80, "duration_hours": 6},
        "POST /api/v1/responses/{response_id}/entered-in-error": {"reason": "Recorded on the wrong block"},
        "POST /api/v1/templates": TEMPLATE,
        "PUT /api/v1/templates/{template_id}": TEMPLATE,
        "POST /api/v1/plans/{plan_id}/apply-template": {
            "template_id": w.template_id,
            "start_date": "2027-01-04",
        },
    }
    return method, path, bodies.get(route)


@pytest.mark.parametrize("persona", PERSONAS)
async def test_every_route_answers_as_the_table_says(
    persona: str, app: Any, client: Any, db: Any, login: Any
) -> None:
    world, username = await _world(db, persona, app.state.settings)
    headers = await login(username) if username else {}
    mismatches = []
    for route in api_routes(app):
        if route in PUBLIC:
            continue
        method, path, body = _request(route, world)
        h = dict(headers)
        if method in ("PATCH", "PUT", "DELETE") or route.endswith(("/undo", "/entered-in-error")):
            h["If-Match"] = await _current_etag(db, route, world)
        r = await client.request(method, path, json=body, headers=h)
        if r.status_code != expect(route, persona):
            mismatches.append(f"{route}: {r.status_code} (expected {expect(route, persona)}) {r.text[:120]}")
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith("application/problem+json"), route
    assert not mismatches, "\n".join(mismatches)


async def _current_etag(db: Any, route: str, w: World) -> str:
    from careteam.patients.tables import Patient
    from careteam.plans.tables import CarePlan

    async with db() as s:
        if "/users/" in route:
            row: Any = await s.get(User, w.user_id)
        elif route.startswith("DELETE /api/v1/conversation-messages/"):
            row = await s.get(ConversationMessage, w.unsaid_id)
        elif "/conversation-messages/" in route:
            row = await s.get(ConversationMessage, w.said_id)
        elif route.startswith("DELETE /api/v1/messages/"):
            row = await s.get(Message, w.removable_id)
        elif "/messages/" in route:
            row = await s.get(Message, w.message_id)
        elif "care-team" in route:
            row = (await s.exec(select(CareTeam).where(CareTeam.patient_id == w.patient_id))).one()
        elif "/patients/" in route:
            row = await s.get(Patient, w.patient_id)
        elif "/goals/" in route:
            row = await s.get(Goal, w.goal_id)
        elif "/tasks/" in route:
            row = await s.get(Task, w.task_id)
        elif "/referrals/" in route:
            row = await s.get(Referral, w.referral_id)
        elif "/conferences/{conference_id}/items/" in route:
            row = await s.get(ConferenceItem, w.item_id)
        elif "/conferences/" in route:
            row = await s.get(Conference, w.conference_id)
        elif "/measures/" in route:
            row = await s.get(Observation, w.observation_id)
        elif "/medications/" in route:
            row = await s.get(Medication, w.medication_id)
        elif "/responses/" in route:
            row = await s.get(ProcedureResponse, w.response_id)
        elif "/templates/" in route:
            row = await s.get(ProtocolTemplate, w.template_id)
        else:
            row = await s.get(CarePlan, w.plan_id)
        return f'W/"{row.version}"'


@pytest.mark.parametrize("persona", ["other_team", "removed", "admin"])
async def test_patient_list_hides_other_teams(
    persona: str, app: Any, client: Any, db: Any, login: Any
) -> None:
    world, username = await _world(db, persona, app.state.settings)
    r = await client.get("/api/v1/patients", headers=await login(username))
    ids = {p["id"] for p in r.json()["items"]}
    # Admins see the directory to manage teams; clinicians off the team do not see the patient at all.
    assert (world.patient_id in ids) is (persona == "admin")
    r = await client.get("/api/v1/plans", headers=await login(username))
    assert world.plan_id not in {p["id"] for p in r.json()["items"]}
