"""Bad input on every writable resource: a clear 4xx problem, never a 500, and nothing stored.

Each case is sent by a caller allowed to do the valid version of the request, so the refusal is about the
input alone. "Nothing stored" compares every row of every table (sessions aside) before and after.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel, select

from careteam.accounts.sessions import open_session
from careteam.conferences.tables import Conference, ConferenceItem, ConferenceMember
from careteam.conversations.tables import Conversation, ConversationMember, ConversationMessage
from careteam.core.vocab import ClinicRole, Discipline
from careteam.db.types import utcnow
from careteam.medications.tables import Medication
from careteam.messaging.render import render
from careteam.messaging.tables import Message
from careteam.outcomes.tables import Observation, ProcedureResponse
from careteam.patients.codes import TeamRole
from careteam.patients.tables import CareTeamMember
from careteam.plans.tables import Goal, Task
from careteam.referrals.tables import Referral
from careteam.settings import Settings
from tests.factories import PASSWORD, make_patient, make_plan, make_template, make_user

LONG_NAME = "x" * 201
LONG_TEXT = "x" * 5000
TOO_BIG = 2**31
PATIENT = {"mrn": "IPM-300001", "name": "Maria Alvarez", "birth_date": "1982-01-27"}
USER = {
    "username": "new.nurse",
    "display_name": "New Nurse",
    "discipline": "nurse",
    "password": "long enough",
}
TASK = {"title": "UDS due", "discipline": "nurse"}
REFERRAL = {
    "plan_id": "{plan}",
    "discipline": "psychologist",
    "reason": "CBT for pain catastrophising (PCS 34)",
}
JSON = {"content-type": "application/json"}
PROTOCOL = {
    "name": "Opioid taper",
    "tasks": [{"key": "plan", "title": "Taper plan", "discipline": "pharmacist"}],
}


def PROTOCOL_TASK(**task: Any) -> dict[str, Any]:
    return {**PROTOCOL, "tasks": [{**PROTOCOL["tasks"][0], **task}]}  # type: ignore[dict-item]


@dataclass
class Case:
    id: str
    method: str
    path: str
    status: int
    field: str | None = None  # for 422: the field the errors list must name ("body." prefix means any index)
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    params: dict[str, Any] | None = None
    as_: str = "lead"
    current: str | None = None  # for 412: where to GET the state the body must show


# A birth date one day ahead of the day the request is made (see World.fill).
TOMORROW: Any = object()


def c(id: str, method: str, path: str, status: int, field: str | None = None, **kw: Any) -> Any:
    return pytest.param(Case(id, method, path, status, field, **kw), id=id)


V1 = {"If-Match": 'W/"1"'}
CONFERENCE = {"title": "Spine MDT", "starts_at": "2026-12-03T13:00:00Z", "items": []}
STALE = {"If-Match": 'W/"7"'}
MED = {"drug": "oxycodone", "dose": 10, "frequency": "q6h"}

CASES = [
    # Patients
    c(
        "patient-malformed-json",
        "POST",
        "/patients",
        422,
        "body.",
        content=b'{"mrn": "X-1", "name": ',
        headers=JSON,
    ),
    c("patient-not-an-object", "POST", "/patients", 422, "body", json=[PATIENT]),
    c(
        "patient-body-not-utf8",
        "POST",
        "/patients",
        422,
        "body",
        content=b'{"mrn": "IPM-300001", "name": "Mar\xeda Alvarez", "birth_date": "1982-01-27"}',
        headers=JSON,
    ),
    c(
        "task-patch-body-latin1",
        "PATCH",
        "/tasks/{task}",
        422,
        "body",
        content='{"title": "Ca\u00f1on review"}'.encode("latin-1"),
        headers={**JSON, **V1},
    ),
    c(
        "patient-plain-text",
        "POST",
        "/patients",
        422,
        "body",
        content=b"mrn=X-1",
        headers={"content-type": "text/plain"},
    ),
    c(
        "patient-date-not-a-date",
        "POST",
        "/patients",
        422,
        "body.birth_date",
        json={**PATIENT, "birth_date": "yesterday"},
    ),
    c(
        "patient-impossible-date",
        "POST",
        "/patients",
        422,
        "body.birth_date",
        json={**PATIENT, "birth_date": "1982-02-30"},
    ),
    c(
        "patient-born-tomorrow",
        "POST",
        "/patients",
        422,
        "body.birth_date",
        json={**PATIENT, "birth_date": TOMORROW},
    ),
    c("patient-name-a-number", "POST", "/patients", 422, "body.name", json={**PATIENT, "name": 123}),
    c("patient-name-201", "POST", "/patients", 422, "body.name", json={**PATIENT, "name": LONG_NAME}),
    c("patient-name-blank", "POST", "/patients", 422, "body.name", json={**PATIENT, "name": "   "}),
    c("patient-mrn-bad-chars", "POST", "/patients", 422, "body.mrn", json={**PATIENT, "mrn": "IPM 1/2"}),
    c("patient-mrn-33", "POST", "/patients", 422, "body.mrn", json={**PATIENT, "mrn": "A" * 33}),
    c("patient-extra-field", "POST", "/patients", 422, "body.ssn", json={**PATIENT, "ssn": "123-45-6789"}),
    c(
        "patient-missing-field",
        "POST",
        "/patients",
        422,
        "body.birth_date",
        json={"mrn": "IPM-1", "name": "Maria Alvarez"},
    ),
    c("patient-id-zero", "GET", "/patients/0", 422, "path.patient_id"),
    c("patient-id-negative", "GET", "/patients/-1", 422, "path.patient_id"),
    c("patient-id-2**31", "GET", f"/patients/{TOO_BIG}", 422, "path.patient_id"),
    c("patient-id-beyond-int64", "GET", "/patients/99999999999999999999", 422, "path.patient_id"),
    c("patient-id-text", "GET", "/patients/abc", 422, "path.patient_id"),
    # int() would read these as 1; an id is digits only (docs/api.md).
    c("patient-id-plus", "GET", "/patients/+1", 422, "path.patient_id"),
    c("patient-id-space", "GET", "/patients/%201", 422, "path.patient_id"),
    c("patient-id-underscore", "GET", "/patients/1_0", 422, "path.patient_id"),
    c("patient-id-full-width", "GET", "/patients/%EF%BC%91", 422, "path.patient_id"),
    c("patient-list-offset-plus", "GET", "/patients", 422, "query.offset", params={"offset": "+1"}),
    c("patient-list-limit-space", "GET", "/patients", 422, "query.limit", params={"limit": " 5"}),
    c("patient-unknown", "GET", "/patients/999999", 404),
    c("patient-list-limit-0", "GET", "/patients", 422, "query.limit", params={"limit": 0}),
    c("patient-list-limit-1000", "GET", "/patients", 422, "query.limit", params={"limit": 1000}),
    c("patient-list-offset-negative", "GET", "/patients", 422, "query.offset", params={"offset": -1}),
    c("patient-list-q-101", "GET", "/patients", 422, "query.q", params={"q": "x" * 101}),
    c("patient-patch-no-if-match", "PATCH", "/patients/{patient}", 428, json={"name": "Maria A."}),
    c(
        "patient-patch-bare-version",
        "PATCH",
        "/patients/{patient}",
        422,
        "header.If-Match",
        json={"name": "Maria A."},
        headers={"If-Match": "1"},
    ),
    c(
        "patient-patch-star",
        "PATCH",
        "/patients/{patient}",
        422,
        "header.If-Match",
        json={"name": "Maria A."},
        headers={"If-Match": "*"},
    ),
    c(
        "patient-patch-etag-text",
        "PATCH",
        "/patients/{patient}",
        422,
        "header.If-Match",
        json={"name": "Maria A."},
        headers={"If-Match": 'W/"one"'},
    ),
    c(
        "patient-patch-etag-huge",
        "PATCH",
        "/patients/{patient}",
        422,
        "header.If-Match",
        json={"name": "Maria A."},
        headers={"If-Match": f'W/"{10**12}"'},
    ),
    c(
        "patient-patch-stale",
        "PATCH",
        "/patients/{patient}",
        412,
        json={"name": "Maria A."},
        headers=STALE,
        current="/patients/{patient}",
    ),
    c(
        "patient-patch-name-201",
        "PATCH",
        "/patients/{patient}",
        422,
        "body.name",
        json={"name": LONG_NAME},
        headers=V1,
    ),
    c(
        "patient-patch-born-tomorrow",
        "PATCH",
        "/patients/{patient}",
        422,
        "body.birth_date",
        json={"birth_date": TOMORROW},
        headers=V1,
    ),
    c(
        "patient-patch-mrn",
        "PATCH",
        "/patients/{patient}",
        422,
        "body.mrn",
        json={"mrn": "NEW-1"},
        headers=V1,
    ),
    c(
        "patient-patch-date-type",
        "PATCH",
        "/patients/{patient}",
        422,
        "body.birth_date",
        json={"birth_date": 19820127},
        headers=V1,
    ),
    c("patient-patch-unknown", "PATCH", "/patients/999999", 404, json={"name": "Maria A."}, headers=V1),
    c(
        "patient-patch-id-2**31",
        "PATCH",
        f"/patients/{TOO_BIG}",
        422,
        "path.patient_id",
        json={"name": "M"},
        headers=V1,
    ),
    # Users
    c(
        "user-malformed-json",
        "POST",
        "/users",
        422,
        "body.",
        content=b'{"username": "a",,}',
        headers=JSON,
        as_="admin",
    ),
    c(
        "user-username-spaces",
        "POST",
        "/users",
        422,
        "body.username",
        json={**USER, "username": "Grace M"},
        as_="admin",
    ),
    c(
        "user-username-65",
        "POST",
        "/users",
        422,
        "body.username",
        json={**USER, "username": "a" * 65},
        as_="admin",
    ),
    c(
        "user-password-short",
        "POST",
        "/users",
        422,
        "body.password",
        json={**USER, "password": "abc"},
        as_="admin",
    ),
    c(
        "user-password-7",
        "POST",
        "/users",
        422,
        "body.password",
        json={**USER, "password": "seven77"},
        as_="admin",
    ),
    c(
        "user-password-257",
        "POST",
        "/users",
        422,
        "body.password",
        json={**USER, "password": "p" * 257},
        as_="admin",
    ),
    c(
        "user-discipline-unknown",
        "POST",
        "/users",
        422,
        "body.discipline",
        json={**USER, "discipline": "surgeon"},
        as_="admin",
    ),
    c("user-role-unknown", "POST", "/users", 422, "body.role", json={**USER, "role": "root"}, as_="admin"),
    c(
        "user-display-name-201",
        "POST",
        "/users",
        422,
        "body.display_name",
        json={**USER, "display_name": LONG_NAME},
        as_="admin",
    ),
    c("user-extra-field", "POST", "/users", 422, "body.active", json={**USER, "active": False}, as_="admin"),
    c(
        "user-patch-active-maybe",
        "PATCH",
        "/users/{nurse}",
        422,
        "body.active",
        json={"active": "maybe"},
        headers=V1,
        as_="admin",
    ),
    c(
        "user-patch-hash",
        "PATCH",
        "/users/{nurse}",
        422,
        "body.password_hash",
        json={"password_hash": "x"},
        headers=V1,
        as_="admin",
    ),
    c("user-patch-no-if-match", "PATCH", "/users/{nurse}", 428, json={"display_name": "G"}, as_="admin"),
    c(
        "user-patch-stale",
        "PATCH",
        "/users/{nurse}",
        412,
        json={"display_name": "G"},
        headers=STALE,
        as_="admin",
        current="/users/{nurse}",
    ),
    c(
        "user-patch-unknown",
        "PATCH",
        "/users/999999",
        404,
        json={"display_name": "G"},
        headers=V1,
        as_="admin",
    ),
    # An administrator's password reset; changing one's own
    c("reset-own-password", "POST", "/users/{admin}/password-reset", 422, "user_id", as_="admin"),
    c("reset-unknown-user", "POST", "/users/999999/password-reset", 404, as_="admin"),
    c("reset-id-2**31", "POST", f"/users/{TOO_BIG}/password-reset", 422, "path.user_id", as_="admin"),
    c("reset-id-text", "POST", "/users/abc/password-reset", 422, "path.user_id", as_="admin"),
    # Sessions and tokens: a handle is 16 hex digits; an unknown one is not found, and nothing is signed out.
    c("session-handle-short", "DELETE", "/me/sessions/abc", 422, "path.session_id"),
    c("session-handle-not-hex", "DELETE", "/me/sessions/zzzzzzzzzzzzzzzz", 422, "path.session_id"),
    c("session-unknown", "DELETE", "/me/sessions/0000000000000000", 404),
    c("session-handle-digits", "DELETE", "/me/sessions/{beyond}", 422, "path.session_id"),
    c(
        "user-session-handle-digits",
        "DELETE",
        "/users/{nurse}/sessions/{beyond}",
        422,
        "path.session_id",
        as_="admin",
    ),
    c(
        "user-session-handle-long",
        "DELETE",
        "/users/{nurse}/sessions/" + "a" * 17,
        422,
        "path.session_id",
        as_="admin",
    ),
    c("user-session-unknown", "DELETE", "/users/{nurse}/sessions/0000000000000000", 404, as_="admin"),
    c(
        "user-session-user-text",
        "DELETE",
        "/users/abc/sessions/0000000000000000",
        422,
        "path.user_id",
        as_="admin",
    ),
    c(
        "password-wrong-current",
        "POST",
        "/me/password",
        422,
        "current_password",
        json={"current_password": "not it", "new_password": "a new passphrase"},
    ),
    c(
        "password-new-short",
        "POST",
        "/me/password",
        422,
        "body.new_password",
        json={"current_password": PASSWORD, "new_password": "short"},
    ),
    c(
        "password-same-as-current",
        "POST",
        "/me/password",
        422,
        "new_password",
        json={"current_password": PASSWORD, "new_password": PASSWORD},
    ),
    c(
        "password-missing-current",
        "POST",
        "/me/password",
        422,
        "body.current_password",
        json={"new_password": "a new passphrase"},
    ),
    c(
        "password-extra-field",
        "POST",
        "/me/password",
        422,
        "body.username",
        json={"current_password": PASSWORD, "new_password": "a new passphrase", "username": "admin"},
    ),
    c("user-id-2**31", "GET", f"/users/{TOO_BIG}", 422, "path.user_id", as_="admin"),
    c("user-id-negative", "GET", "/users/-3", 422, "path.user_id", as_="admin"),
    c("user-unknown", "GET", "/users/999999", 404, as_="admin"),
    c("user-list-discipline", "GET", "/users", 422, "query.discipline", params={"discipline": "surgeon"}),
    c("user-list-active", "GET", "/users", 422, "query.active", params={"active": "maybe"}),
    # Sessions: a handle is 16 lowercase hex digits; one that is not hers is not found
    c("session-handle-short", "DELETE", "/me/sessions/0123abcd", 422, "path.session_id"),
    c("session-handle-long", "DELETE", "/me/sessions/" + "a" * 64, 422, "path.session_id"),
    c("session-handle-upper", "DELETE", "/me/sessions/0123456789ABCDEF", 422, "path.session_id"),
    c("session-handle-not-hex", "DELETE", "/me/sessions/zzzzzzzzzzzzzzzz", 422, "path.session_id"),
    c("session-handle-wildcard", "DELETE", "/me/sessions/%25%25%25%25%25%25%25%25", 422, "path.session_id"),
    c("session-unknown", "DELETE", "/me/sessions/0123456789abcdef", 404),
    c(
        "user-session-unknown",
        "DELETE",
        "/users/{nurse}/sessions/0123456789abcdef",
        404,
        as_="admin",
    ),
    c("user-sessions-unknown-user", "GET", "/users/999999/sessions", 404, as_="admin"),
    c("user-sessions-id-text", "GET", "/users/abc/sessions", 422, "path.user_id", as_="admin"),
    c(
        "user-session-id-2**31",
        "DELETE",
        f"/users/{TOO_BIG}/sessions/0123456789abcdef",
        422,
        "path.user_id",
        as_="admin",
    ),
    # Care-team members
    c(
        "member-id-text",
        "POST",
        "/patients/{patient}/care-team/members",
        422,
        "body.user_id",
        json={"user_id": "abc"},
    ),
    c(
        "member-id-zero",
        "POST",
        "/patients/{patient}/care-team/members",
        422,
        "body.user_id",
        json={"user_id": 0},
    ),
    c(
        "member-id-2**31",
        "POST",
        "/patients/{patient}/care-team/members",
        422,
        "body.user_id",
        json={"user_id": TOO_BIG},
    ),
    c(
        "member-unknown-user",
        "POST",
        "/patients/{patient}/care-team/members",
        422,
        "user_id",
        json={"user_id": 999999},
    ),
    c(
        "member-role-unknown",
        "POST",
        "/patients/{patient}/care-team/members",
        422,
        "body.role",
        json={"user_id": "{outsider}", "role": "boss"},
    ),
    c(
        "member-discipline-unknown",
        "POST",
        "/patients/{patient}/care-team/members",
        422,
        "body.discipline",
        json={"user_id": "{outsider}", "discipline": "surgeon"},
    ),
    c(
        "member-extra-field",
        "POST",
        "/patients/{patient}/care-team/members",
        422,
        "body.admin",
        json={"user_id": "{outsider}", "admin": True},
    ),
    c(
        "member-already-on-team",
        "POST",
        "/patients/{patient}/care-team/members",
        409,
        json={"user_id": "{nurse}"},
    ),
    c("share-user-text", "POST", "/patients/{patient}/shares", 422, "body.user_id", json={"user_id": "abc"}),
    c("share-user-missing", "POST", "/patients/{patient}/shares", 422, "body.user_id", json={}),
    c(
        "share-extra-field",
        "POST",
        "/patients/{patient}/shares",
        422,
        "body.scope",
        json={"user_id": 1, "scope": "all"},
    ),
    # Only an EMR interface account takes a share: a clinician is put on the team instead.
    c(
        "share-with-clinician",
        "POST",
        "/patients/{patient}/shares",
        422,
        "user_id",
        json={"user_id": "{nurse}"},
    ),
    c("share-unknown-user", "POST", "/patients/{patient}/shares", 422, "user_id", json={"user_id": 999999}),
    c("unshare-not-shared", "DELETE", "/patients/{patient}/shares/{nurse}", 404),
    c("unshare-user-text", "DELETE", "/patients/{patient}/shares/abc", 422, "path.user_id"),
    c(
        "member-unknown-patient",
        "POST",
        "/patients/999999/care-team/members",
        404,
        json={"user_id": "{outsider}"},
    ),
    # Several members at once: all or none
    c(
        "members-none",
        "POST",
        "/patients/{patient}/care-team/members/batch",
        422,
        "body.members",
        json={"members": []},
    ),
    c(
        "members-not-a-list",
        "POST",
        "/patients/{patient}/care-team/members/batch",
        422,
        "body.members",
        json={"members": {"user_id": "{outsider}"}},
    ),
    c(
        "members-id-text",
        "POST",
        "/patients/{patient}/care-team/members/batch",
        422,
        "body.members.1.user_id",
        json={"members": [{"user_id": "{outsider}"}, {"user_id": "abc"}]},
    ),
    c(
        "members-twice",
        "POST",
        "/patients/{patient}/care-team/members/batch",
        422,
        "user_id",
        json={"members": [{"user_id": "{outsider}"}, {"user_id": "{outsider}"}]},
    ),
    c(
        "members-one-unknown",
        "POST",
        "/patients/{patient}/care-team/members/batch",
        422,
        "user_id",
        json={"members": [{"user_id": "{outsider}"}, {"user_id": 999999}]},
    ),
    c(
        "members-one-already-on-team",
        "POST",
        "/patients/{patient}/care-team/members/batch",
        409,
        json={"members": [{"user_id": "{outsider}"}, {"user_id": "{nurse}"}]},
    ),
    c(
        "members-51",
        "POST",
        "/patients/{patient}/care-team/members/batch",
        422,
        "body.members",
        json={"members": [{"user_id": i + 1} for i in range(51)]},
    ),
    c("member-remove-no-if-match", "DELETE", "/patients/{patient}/care-team/members/{member}", 428),
    c(
        "member-remove-stale",
        "DELETE",
        "/patients/{patient}/care-team/members/{member}",
        412,
        headers=STALE,
        current="/patients/{patient}/care-team",
    ),
    c("member-remove-unknown", "DELETE", "/patients/{patient}/care-team/members/999999", 404, headers=V1),
    c(
        "member-remove-id-2**31",
        "DELETE",
        f"/patients/{{patient}}/care-team/members/{TOO_BIG}",
        422,
        "path.member_id",
        headers=V1,
    ),
    c(
        "team-status-unknown",
        "PATCH",
        "/patients/{patient}/care-team",
        422,
        "body.status",
        json={"status": "closed"},
        headers=V1,
    ),
    c(
        "team-name-201",
        "PATCH",
        "/patients/{patient}/care-team",
        422,
        "body.name",
        json={"name": LONG_NAME},
        headers=V1,
    ),
    c(
        "team-two-etags",
        "PATCH",
        "/patients/{patient}/care-team",
        422,
        "header.If-Match",
        json={"name": "Team"},
        headers={"If-Match": 'W/"1", W/"2"'},
    ),
    c(
        "team-stale",
        "PATCH",
        "/patients/{patient}/care-team",
        412,
        json={"name": "Team"},
        headers=STALE,
        current="/patients/{patient}/care-team",
    ),
    # Plans and goals
    c(
        "plan-patient-2**31",
        "POST",
        "/plans",
        422,
        "body.patient_id",
        json={"patient_id": TOO_BIG, "title": "P"},
    ),
    c(
        "plan-patient-negative",
        "POST",
        "/plans",
        422,
        "body.patient_id",
        json={"patient_id": -1, "title": "P"},
    ),
    c("plan-patient-unknown", "POST", "/plans", 422, "patient_id", json={"patient_id": 999999, "title": "P"}),
    c(
        "plan-title-201",
        "POST",
        "/plans",
        422,
        "body.title",
        json={"patient_id": "{patient}", "title": LONG_NAME},
    ),
    c(
        "plan-description-5000",
        "POST",
        "/plans",
        422,
        "body.description",
        json={"patient_id": "{patient}", "title": "P", "description": LONG_TEXT},
    ),
    c(
        "plan-status-unknown",
        "POST",
        "/plans",
        422,
        "body.status",
        json={"patient_id": "{patient}", "title": "P", "status": "open"},
    ),
    c(
        "plan-period-reversed",
        "POST",
        "/plans",
        422,
        "body.period_end",
        json={
            "patient_id": "{patient}",
            "title": "P",
            "period_start": "2027-01-01",
            "period_end": "2026-01-01",
        },
    ),
    c(
        "plan-21-goals",
        "POST",
        "/plans",
        422,
        "body.goals",
        json={
            "patient_id": "{patient}",
            "title": "P",
            "goals": [{"description": f"g{i}"} for i in range(21)],
        },
    ),
    c(
        "plan-goal-501",
        "POST",
        "/plans",
        422,
        "body.goals.0.description",
        json={"patient_id": "{patient}", "title": "P", "goals": [{"description": "x" * 501}]},
    ),
    c(
        "plan-goal-due-impossible",
        "POST",
        "/plans",
        422,
        "body.goals.1.due_date",
        json={
            "patient_id": "{patient}",
            "title": "P",
            "goals": [
                {"description": "Walk 30 minutes daily"},
                {"description": "Sleep", "due_date": "2027-02-30"},
            ],
        },
    ),
    c(
        "plan-idempotency-key-spaces",
        "POST",
        "/plans",
        422,
        "header.",
        json={"patient_id": "{patient}", "title": "P"},
        headers={"Idempotency-Key": "has spaces"},
    ),
    c("plan-patch-title-null", "PATCH", "/plans/{plan}", 422, "title", json={"title": None}, headers=V1),
    c(
        "plan-patch-description-5000",
        "PATCH",
        "/plans/{plan}",
        422,
        "body.description",
        json={"description": LONG_TEXT},
        headers=V1,
    ),
    c(
        "plan-patch-period-reversed",
        "PATCH",
        "/plans/{plan}",
        422,
        "period_end",
        json={"period_start": "2027-01-01", "period_end": "2026-01-01"},
        headers=V1,
    ),
    c("plan-patch-no-if-match", "PATCH", "/plans/{plan}", 428, json={"title": "P2"}),
    c(
        "plan-patch-stale",
        "PATCH",
        "/plans/{plan}",
        412,
        json={"title": "P2"},
        headers=STALE,
        current="/plans/{plan}",
    ),
    c("plan-patch-unknown", "PATCH", "/plans/999999", 404, json={"title": "P2"}, headers=V1),
    c("plan-id-negative", "GET", "/plans/-1", 422, "path.plan_id"),
    c("plan-events-after-negative", "GET", "/plans/{plan}/events", 422, "query.after", params={"after": -1}),
    c(
        "plan-events-after-2**31",
        "GET",
        "/plans/{plan}/events",
        422,
        "query.after",
        params={"after": TOO_BIG},
    ),
    c("plan-list-patient-zero", "GET", "/plans", 422, "query.patient_id", params={"patient_id": 0}),
    c(
        "goal-description-empty",
        "POST",
        "/plans/{plan}/goals",
        422,
        "body.description",
        json={"description": " "},
    ),
    c("goal-unknown-plan", "POST", "/plans/999999/goals", 404, json={"description": "Walk daily"}),
    c(
        "goal-patch-status-unknown",
        "PATCH",
        "/goals/{goal}",
        422,
        "body.lifecycle_status",
        json={"lifecycle_status": "done"},
        headers=V1,
    ),
    c(
        "goal-patch-description-null",
        "PATCH",
        "/goals/{goal}",
        422,
        "description",
        json={"description": None},
        headers=V1,
    ),
    c(
        "goal-patch-due-not-a-date",
        "PATCH",
        "/goals/{goal}",
        422,
        "body.due_date",
        json={"due_date": "next week"},
        headers=V1,
    ),
    c("goal-patch-stale", "PATCH", "/goals/{goal}", 412, json={"target": "soon"}, headers=STALE),
    # Tasks
    c("task-title-201", "POST", "/plans/{plan}/tasks", 422, "body.title", json={**TASK, "title": LONG_NAME}),
    c(
        "task-description-5000",
        "POST",
        "/plans/{plan}/tasks",
        422,
        "body.description",
        json={**TASK, "description": LONG_TEXT},
    ),
    c("task-missing-title", "POST", "/plans/{plan}/tasks", 422, "body.title", json={"discipline": "nurse"}),
    c(
        "task-discipline-unknown",
        "POST",
        "/plans/{plan}/tasks",
        422,
        "body.discipline",
        json={**TASK, "discipline": "surgeon"},
    ),
    c(
        "task-assignee-2**31",
        "POST",
        "/plans/{plan}/tasks",
        422,
        "body.assignee_id",
        json={**TASK, "assignee_id": TOO_BIG},
    ),
    c(
        "task-assignee-off-team",
        "POST",
        "/plans/{plan}/tasks",
        422,
        "assignee_id",
        json={**TASK, "assignee_id": "{outsider}"},
    ),
    c(
        "task-position-nan",
        "POST",
        "/plans/{plan}/tasks",
        422,
        "body.position",
        content=b'{"title": "UDS due", "discipline": "nurse", "position": NaN}',
        headers=JSON,
    ),
    c(
        "task-position-huge",
        "POST",
        "/plans/{plan}/tasks",
        422,
        "body.position",
        json={**TASK, "position": 1e13},
    ),
    c(
        "task-checklist-51",
        "POST",
        "/plans/{plan}/tasks",
        422,
        "body.checklist",
        json={**TASK, "checklist": [{"text": f"step {i}"} for i in range(51)]},
    ),
    c(
        "task-checklist-extra",
        "POST",
        "/plans/{plan}/tasks",
        422,
        "body.checklist.0.owner",
        json={**TASK, "checklist": [{"text": "call", "owner": "me"}]},
    ),
    c(
        "task-due-date-invalid",
        "POST",
        "/plans/{plan}/tasks",
        422,
        "body.due_date",
        json={**TASK, "due_date": "2026-13-01"},
    ),
    c(
        "task-priority-unknown",
        "POST",
        "/plans/{plan}/tasks",
        422,
        "body.priority",
        json={**TASK, "priority": "whenever"},
    ),
    c(
        "task-status-unknown",
        "POST",
        "/plans/{plan}/tasks",
        422,
        "body.status",
        json={**TASK, "status": "done"},
    ),
    c("task-extra-field", "POST", "/plans/{plan}/tasks", 422, "body.plan_id", json={**TASK, "plan_id": 1}),
    c("task-unknown-plan", "POST", "/plans/999999/tasks", 404, json=TASK),
    c(
        "task-patch-illegal-transition",
        "PATCH",
        "/tasks/{task}",
        409,
        json={"status": "completed"},
        headers=V1,
    ),
    c("task-patch-title-null", "PATCH", "/tasks/{task}", 422, "title", json={"title": None}, headers=V1),
    c(
        "task-patch-checklist-type",
        "PATCH",
        "/tasks/{task}",
        422,
        "body.checklist",
        json={"checklist": "all"},
        headers=V1,
    ),
    c(
        "task-patch-assignee-off-team",
        "PATCH",
        "/tasks/{task}",
        422,
        "assignee_id",
        json={"assignee_id": "{outsider}"},
        headers=V1,
    ),
    c("task-patch-no-if-match", "PATCH", "/tasks/{task}", 428, json={"title": "T"}),
    c(
        "task-patch-etag-unquoted",
        "PATCH",
        "/tasks/{task}",
        422,
        "header.If-Match",
        json={"title": "T"},
        headers={"If-Match": "W/1"},
    ),
    c(
        "task-patch-stale",
        "PATCH",
        "/tasks/{task}",
        412,
        json={"title": "T"},
        headers=STALE,
        current="/tasks/{task}",
    ),
    c("task-patch-unknown", "PATCH", "/tasks/999999", 404, json={"title": "T"}, headers=V1),
    c("template-no-name", "POST", "/templates", 422, "body.name", json={**PROTOCOL, "name": " "}),
    c("template-no-tasks", "POST", "/templates", 422, "body.tasks", json={**PROTOCOL, "tasks": []}),
    c("template-bad-status", "POST", "/templates", 422, "body.status", json={**PROTOCOL, "status": "final"}),
    c(
        "template-bad-lane",
        "POST",
        "/templates",
        422,
        "body.tasks.",
        json=PROTOCOL_TASK(discipline="surgeon"),
    ),
    c("template-bad-key", "POST", "/templates", 422, "body.tasks.", json=PROTOCOL_TASK(key="Not a key")),
    c(
        "template-bad-offset",
        "POST",
        "/templates",
        422,
        "body.tasks.",
        json=PROTOCOL_TASK(due_offset_days=-3),
    ),
    c("template-unknown-gate", "POST", "/templates", 422, "body", json=PROTOCOL_TASK(gates=["nope"])),
    c(
        "template-goal-empty",
        "POST",
        "/templates",
        422,
        "body.goals.",
        json={**PROTOCOL, "goals": [{"description": ""}]},
    ),
    c("template-put-no-if-match", "PUT", "/templates/{template}", 428, json=PROTOCOL),
    c("template-put-stale", "PUT", "/templates/{template}", 412, json=PROTOCOL, headers=STALE),
    c("template-put-unknown", "PUT", "/templates/999999", 404, json=PROTOCOL, headers=V1),
    c(
        "template-put-too-big",
        "PUT",
        "/templates/{beyond}",
        422,
        "path.template_id",
        json=PROTOCOL,
        headers=V1,
    ),
    c(
        "template-put-no-tasks",
        "PUT",
        "/templates/{template}",
        422,
        "body.tasks",
        json={**PROTOCOL, "tasks": []},
        headers=V1,
    ),
    c("apply-no-template", "POST", "/plans/{plan}/apply-template", 422, "body.template_id", json={}),
    c(
        "apply-unknown-template",
        "POST",
        "/plans/{plan}/apply-template",
        422,
        "body.template_id",
        json={"template_id": 999999},
    ),
    c(
        "apply-bad-start",
        "POST",
        "/plans/{plan}/apply-template",
        422,
        "body.start_date",
        json={"template_id": "{template}", "start_date": "next week"},
    ),
    c("apply-unknown-plan", "POST", "/plans/999999/apply-template", 404, json={"template_id": "{template}"}),
    c(
        "task-link-not-http",
        "PATCH",
        "/tasks/{task}",
        422,
        "body.link",
        json={"link": "javascript:alert(1)"},
        headers=V1,
    ),
    c("gates-missing", "PUT", "/tasks/{task}/gates", 422, "body.gate_task_ids", json={}, headers=V1),
    c(
        "gates-not-a-list",
        "PUT",
        "/tasks/{task}/gates",
        422,
        "body.gate_task_ids",
        json={"gate_task_ids": 3},
        headers=V1,
    ),
    c(
        "gates-id-too-big",
        "PUT",
        "/tasks/{beyond}/gates",
        422,
        "path.task_id",
        json={"gate_task_ids": []},
        headers=V1,
    ),
    c(
        "gates-zero-id",
        "PUT",
        "/tasks/{task}/gates",
        422,
        "body.gate_task_ids.",
        json={"gate_task_ids": [0]},
        headers=V1,
    ),
    c(
        "gates-itself",
        "PUT",
        "/tasks/{task}/gates",
        422,
        "body.gate_task_ids",
        json={"gate_task_ids": ["{task}"]},
        headers=V1,
    ),
    c(
        "gates-unknown-task",
        "PUT",
        "/tasks/{task}/gates",
        422,
        "body.gate_task_ids",
        json={"gate_task_ids": [999999]},
        headers=V1,
    ),
    c(
        "gates-too-many",
        "PUT",
        "/tasks/{task}/gates",
        422,
        "body.gate_task_ids",
        json={"gate_task_ids": list(range(1, 30))},
        headers=V1,
    ),
    c("gates-no-if-match", "PUT", "/tasks/{task}/gates", 428, json={"gate_task_ids": []}),
    c(
        "gates-stale",
        "PUT",
        "/tasks/{task}/gates",
        412,
        json={"gate_task_ids": []},
        headers=STALE,
        current="/tasks/{task}",
    ),
    c("gates-unknown", "PUT", "/tasks/999999/gates", 404, json={"gate_task_ids": []}, headers=V1),
    c(
        "task-patch-cancel-without-reason",
        "PATCH",
        "/tasks/{task}",
        422,
        "body.status_reason",
        json={"status": "cancelled"},
        headers=V1,
    ),
    c(
        "task-patch-reason-too-long",
        "PATCH",
        "/tasks/{task}",
        422,
        "body.status_reason",
        json={"status": "cancelled", "status_reason": "x" * 501},
        headers=V1,
    ),
    c(
        "task-patch-reason-without-cancel",
        "PATCH",
        "/tasks/{task}",
        422,
        "body.status_reason",
        json={"status": "in-progress", "status_reason": "Because"},
        headers=V1,
    ),
    c("task-undo-no-if-match", "POST", "/tasks/{task}/undo", 428),
    c("task-undo-nothing-to-undo", "POST", "/tasks/{task}/undo", 409, headers=V1),
    c("task-undo-stale", "POST", "/tasks/{task}/undo", 412, headers=STALE, current="/tasks/{task}"),
    c("task-undo-unknown", "POST", "/tasks/999999/undo", 404, headers=V1),
    c("task-undo-id-negative", "POST", "/tasks/-5/undo", 422, "path.task_id", headers=V1),
    c("task-reopen-open-task", "POST", "/tasks/{task}/reopen", 409),
    c("task-reopen-unknown", "POST", "/tasks/999999/reopen", 404),
    c("task-reopen-id-2**31", "POST", f"/tasks/{TOO_BIG}/reopen", 422, "path.task_id"),
    c("task-id-negative", "GET", "/tasks/-5", 422, "path.task_id"),
    c("task-id-2**31", "GET", f"/tasks/{TOO_BIG}", 422, "path.task_id"),
    c("task-unknown", "GET", "/tasks/999999", 404),
    c("task-list-column", "GET", "/plans/{plan}/tasks", 422, "query.column", params={"column": "bogus"}),
    c(
        "task-list-assignee-zero",
        "GET",
        "/plans/{plan}/tasks",
        422,
        "query.assignee_id",
        params={"assignee_id": 0},
    ),
    # Notifications: her own inbox
    c("notes-read-empty-body", "POST", "/me/notifications/read", 422, "body.all", json={}),
    c("notes-read-both", "POST", "/me/notifications/read", 422, "body.all", json={"ids": [1], "all": True}),
    c("notes-read-no-ids", "POST", "/me/notifications/read", 422, "body.ids", json={"ids": []}),
    c(
        "notes-read-501-ids",
        "POST",
        "/me/notifications/read",
        422,
        "body.ids",
        json={"ids": list(range(1, 502))},
    ),
    c("notes-read-id-0", "POST", "/me/notifications/read", 422, "body.ids.", json={"ids": [0]}),
    c("notes-read-extra", "POST", "/me/notifications/read", 422, "body.seen", json={"all": True, "seen": 1}),
    c("notes-limit-0", "GET", "/me/notifications", 422, "query.limit", params={"limit": 0}),
    c("notes-unread-maybe", "GET", "/me/notifications", 422, "query.unread", params={"unread": "maybe"}),
    # Referrals
    c(
        "referral-no-plan",
        "POST",
        "/referrals",
        422,
        "body.plan_id",
        json={k: v for k, v in REFERRAL.items() if k != "plan_id"},
    ),
    c("referral-plan-unknown", "POST", "/referrals", 422, "plan_id", json={**REFERRAL, "plan_id": 999999}),
    c(
        "referral-discipline-unknown",
        "POST",
        "/referrals",
        422,
        "body.discipline",
        json={**REFERRAL, "discipline": "surgeon"},
    ),
    c("referral-reason-blank", "POST", "/referrals", 422, "body.reason", json={**REFERRAL, "reason": "  "}),
    c(
        "referral-reason-501",
        "POST",
        "/referrals",
        422,
        "body.reason",
        json={**REFERRAL, "reason": "x" * 501},
    ),
    c(
        "referral-priority-unknown",
        "POST",
        "/referrals",
        422,
        "body.priority",
        json={**REFERRAL, "priority": "soon"},
    ),
    c(
        "referral-respond-by-naive",
        "POST",
        "/referrals",
        422,
        "body.respond_by",
        json={**REFERRAL, "respond_by": "2030-01-01T09:00:00"},
    ),
    c(
        "referral-respond-by-past",
        "POST",
        "/referrals",
        422,
        "respond_by",
        json={**REFERRAL, "respond_by": "2020-01-01T09:00:00Z"},
    ),
    c(
        "referral-code-of-another-discipline",
        "POST",
        "/referrals",
        422,
        "reason_code",
        json={**REFERRAL, "reason_code": "return-to-work"},
    ),
    c(
        "referral-named-not-of-the-discipline",
        "POST",
        "/referrals",
        422,
        "assignee_id",
        json={**REFERRAL, "assignee_id": "{nurse}"},
    ),
    c(
        "referral-born-completed",
        "POST",
        "/referrals",
        422,
        "body.status",
        json={**REFERRAL, "status": "completed"},
    ),
    c("referral-extra-field", "POST", "/referrals", 422, "body.note", json={**REFERRAL, "note": "hi"}),
    c("referral-list-status-unknown", "GET", "/referrals", 422, "query.status", params={"status": "lost"}),
    c("referral-id-zero", "GET", "/referrals/0", 422, "path.referral_id"),
    c("referral-unknown", "GET", "/referrals/999999", 404),
    c("referral-patch-no-if-match", "PATCH", "/referrals/{referral}", 428, json={"priority": "urgent"}),
    c(
        "referral-patch-stale",
        "PATCH",
        "/referrals/{referral}",
        412,
        json={"priority": "urgent"},
        headers=STALE,
        current="/referrals/{referral}",
    ),
    c(
        "referral-patch-reason-null",
        "PATCH",
        "/referrals/{referral}",
        422,
        "reason",
        json={"reason": None},
        headers=V1,
    ),
    c(
        "referral-patch-to-completed",
        "PATCH",
        "/referrals/{referral}",
        409,
        json={"status": "completed"},
        headers=V1,
    ),
    c("referral-claim-id-2**31", "POST", "/referrals/{beyond}/claim", 422, "path.referral_id"),
    c("referral-accept-id-2**31", "POST", "/referrals/{beyond}/accept", 422, "path.referral_id"),
    c("referral-decline-no-reason", "POST", "/referrals/{referral}/decline", 422, "body.reason", json={}),
    c(
        "referral-complete-outcome-4001",
        "POST",
        "/referrals/{referral}/complete",
        422,
        "body.outcome",
        json={"outcome": "x" * 4001},
    ),
    c(
        "referral-revoke-blank",
        "POST",
        "/referrals/{referral}/revoke",
        422,
        "body.reason",
        json={"reason": " "},
    ),
    # Messages (the lead wrote "{message}")
    c("message-no-body", "POST", "/plans/{plan}/messages", 422, "body.body", json={}),
    c("message-blank", "POST", "/plans/{plan}/messages", 422, "body.body", json={"body": " \n "}),
    c("message-10001", "POST", "/plans/{plan}/messages", 422, "body.body", json={"body": "x" * 10_001}),
    c("message-nul", "POST", "/plans/{plan}/messages", 422, "body.body", json={"body": "a\x00b"}),
    c("message-not-text", "POST", "/plans/{plan}/messages", 422, "body.body", json={"body": ["hi"]}),
    c(
        "message-extra-field",
        "POST",
        "/plans/{plan}/messages",
        422,
        "body.urgent",
        json={"body": "Hold apixaban", "urgent": True},
    ),
    c("message-plan-2**31", "POST", "/plans/{beyond}/messages", 422, "path.plan_id", json={"body": "hi"}),
    c("message-plan-unknown", "POST", "/plans/999999/messages", 404, json={"body": "hi"}),
    c("message-task-blank", "POST", "/tasks/{task}/messages", 422, "body.body", json={"body": ""}),
    c("message-task-unknown", "POST", "/tasks/999999/messages", 404, json={"body": "hi"}),
    c(
        "message-idempotency-key-blank",
        "POST",
        "/tasks/{task}/messages",
        422,
        "header.Idempotency-Key",
        json={"body": "hi"},
        headers={"Idempotency-Key": ""},
    ),
    c("message-task-title-blank", "POST", "/messages/{message}/task", 422, "body.title", json={"title": " "}),
    c(
        "message-task-title-201",
        "POST",
        "/messages/{message}/task",
        422,
        "body.title",
        json={"title": "x" * 201},
    ),
    c(
        "message-task-discipline",
        "POST",
        "/messages/{message}/task",
        422,
        "body.discipline",
        json={"discipline": "surgeon"},
    ),
    c("message-task-extra", "POST", "/messages/{message}/task", 422, "body.lane", json={"lane": "nurse"}),
    c("message-task-id-2**31", "POST", "/messages/{beyond}/task", 422, "path.message_id", json={}),
    c("message-task-unknown", "POST", "/messages/999999/task", 404, json={}),
    c("message-list-before-zero", "GET", "/plans/{plan}/messages", 422, "query.before", params={"before": 0}),
    c("message-list-limit-zero", "GET", "/tasks/{task}/messages", 422, "query.limit", params={"limit": 0}),
    c(
        "message-list-two-cursors",
        "GET",
        "/plans/{plan}/messages",
        422,
        "query.after",
        params={"before": 9, "after": 3},
    ),
    c("message-patch-no-if-match", "PATCH", "/messages/{message}", 428, json={"body": "x"}),
    c("message-patch-stale", "PATCH", "/messages/{message}", 412, json={"body": "x"}, headers=STALE),
    c("message-patch-blank", "PATCH", "/messages/{message}", 422, "body.body", json={"body": ""}, headers=V1),
    c("message-patch-unknown", "PATCH", "/messages/999999", 404, json={"body": "x"}, headers=V1),
    c("message-delete-no-if-match", "DELETE", "/messages/{message}", 428),
    c("message-delete-stale", "DELETE", "/messages/{message}", 412, headers=STALE),
    c("message-delete-id-2**31", "DELETE", "/messages/{beyond}", 422, "path.message_id", headers=V1),
    c("message-read-up-to-zero", "POST", "/plans/{plan}/messages/read", 422, "body.up_to", json={"up_to": 0}),
    c(
        "message-read-up-to-2**31",
        "POST",
        "/tasks/{task}/messages/read",
        422,
        "body.up_to",
        json={"up_to": TOO_BIG},
    ),
    c(
        "message-read-up-to-text",
        "POST",
        "/plans/{plan}/messages/read",
        422,
        "body.up_to",
        json={"up_to": "all"},
    ),
    c(
        "message-read-unknown-field",
        "POST",
        "/plans/{plan}/messages/read",
        422,
        "body.all",
        json={"all": True},
    ),
    c("message-read-not-an-object", "POST", "/plans/{plan}/messages/read", 422, "body", json=[1]),
    c("message-read-plan-unknown", "POST", "/plans/999999/messages/read", 404, json={}),
    c("message-read-task-2**31", "POST", "/tasks/{beyond}/messages/read", 422, "path.task_id", json={}),
    c("message-read-all-anonymous", "POST", "/me/messages/read-all", 401, json={}, as_="anonymous"),
    c("message-read-all-up-to", "POST", "/me/messages/read-all", 422, "body.up_to", json={"up_to": 3}),
    c("message-seen-unknown", "GET", "/messages/999999/seen", 404),
    c("message-seen-id-zero", "GET", "/messages/0/seen", 422, "path.message_id"),
    # Urgent messages (the lead asks for an acknowledgement; the team: the lead and the nurse)
    c(
        "message-urgent-empty",
        "POST",
        "/plans/{plan}/messages",
        422,
        "body.urgent",
        json={"body": "hi", "urgent": {}},
    ),
    c(
        "message-urgent-not-object",
        "POST",
        "/plans/{plan}/messages",
        422,
        "body.urgent",
        json={"body": "hi", "urgent": ["{nurse}"]},
    ),
    c(
        "message-urgent-off-team",
        "POST",
        "/plans/{plan}/messages",
        422,
        "body.urgent.users",
        json={"body": "hi", "urgent": {"users": ["{nurse}", "{outsider}"]}},
    ),
    c(
        "message-urgent-user-2**31",
        "POST",
        "/plans/{plan}/messages",
        422,
        "body.urgent.users.0",
        json={"body": "hi", "urgent": {"users": ["{beyond}"]}},
    ),
    c(
        "message-urgent-unknown-discipline",
        "POST",
        "/plans/{plan}/messages",
        422,
        "body.urgent.disciplines.0",
        json={"body": "hi", "urgent": {"disciplines": ["surgeon"]}},
    ),
    c(
        "message-urgent-discipline-not-on-team",
        "POST",
        "/plans/{plan}/messages",
        422,
        "body.urgent.disciplines",
        json={"body": "hi", "urgent": {"disciplines": ["psychologist"]}},
    ),
    c(
        "message-urgent-mode-not-bool",
        "POST",
        "/tasks/{task}/messages",
        422,
        "body.urgent.any_of_discipline",
        json={"body": "hi", "urgent": {"disciplines": ["nurse"], "any_of_discipline": "each"}},
    ),
    c("message-ack-id-2**31", "POST", "/messages/{beyond}/ack", 422, "path.message_id"),
    c("message-ack-unknown", "POST", "/messages/999999/ack", 404),
    c("message-ack-not-asked", "POST", "/messages/{message}/ack", 403),
    # Search: q is 1..200 characters; its syntax is never an error (tests/search), its bounds are.
    c("search-no-q", "GET", "/search", 422, "query.q"),
    c("search-q-empty", "GET", "/search", 422, "query.q", params={"q": ""}),
    c("search-q-201", "GET", "/search", 422, "query.q", params={"q": "a" * 201}),
    c("search-kind-unknown", "GET", "/search", 422, "query.kind", params={"q": "UDS", "kind": "plan"}),
    c("search-offset-negative", "GET", "/search", 422, "query.offset", params={"q": "UDS", "offset": -1}),
    c("search-offset-2**31", "GET", "/search", 422, "query.offset", params={"q": "UDS", "offset": 2**31}),
    c("search-limit-zero", "GET", "/search", 422, "query.limit", params={"q": "UDS", "limit": 0}),
    # Audit and sign-in
    c("audit-action-unknown", "GET", "/audit", 422, "query.action", params={"action": "peek"}, as_="admin"),
    c(
        "audit-since-not-a-date",
        "GET",
        "/audit",
        422,
        "query.since",
        params={"since": "last week"},
        as_="admin",
    ),
    c("audit-user-2**31", "GET", "/audit", 422, "query.user_id", params={"user_id": TOO_BIG}, as_="admin"),
    c(
        "audit-patient-plus",
        "GET",
        "/audit",
        422,
        "query.patient_id",
        params={"patient_id": "+2"},
        as_="admin",
    ),
    c(
        "token-empty-username",
        "POST",
        "/auth/token",
        422,
        "body.username",
        json={"username": "", "password": "x"},
        as_="anonymous",
    ),
    c(
        "token-extra-field",
        "POST",
        "/auth/token",
        422,
        "body.remember",
        json={"username": "lead_b", "password": "x", "remember": True},
        as_="anonymous",
    ),
    # Conversations (the lead and the nurse, about the patient; the lead's message)
    c(
        "conversation-no-participants",
        "POST",
        "/conversations",
        422,
        "body.participants",
        json={"body": "hi"},
    ),
    c(
        "conversation-participants-empty",
        "POST",
        "/conversations",
        422,
        "body.participants",
        json={"participants": [], "body": "hi"},
    ),
    c(
        "conversation-participant-zero",
        "POST",
        "/conversations",
        422,
        "body.participants.",
        json={"participants": [0], "body": "hi"},
    ),
    c(
        "conversation-21-participants",
        "POST",
        "/conversations",
        422,
        "body.participants",
        json={"participants": list(range(1, 22)), "body": "hi"},
    ),
    c(
        "conversation-only-herself",
        "POST",
        "/conversations",
        422,
        "body.participants",
        json={"participants": ["{lead}"], "body": "hi"},
    ),
    c(
        "conversation-unknown-participant",
        "POST",
        "/conversations",
        422,
        "body.participants",
        json={"participants": [999999], "body": "hi"},
    ),
    c(
        "conversation-patient-unknown",
        "POST",
        "/conversations",
        422,
        "body.patient_id",
        json={"participants": ["{nurse}"], "patient_id": 999999, "body": "hi"},
    ),
    c(
        "conversation-participant-off-team",
        "POST",
        "/conversations",
        422,
        "body.patient_id",
        json={"participants": ["{outsider}"], "patient_id": "{patient}", "body": "hi"},
    ),
    c(
        "conversation-patient-2**31",
        "POST",
        "/conversations",
        422,
        "body.patient_id",
        json={"participants": ["{nurse}"], "patient_id": TOO_BIG, "body": "hi"},
    ),
    c(
        "conversation-subject-201",
        "POST",
        "/conversations",
        422,
        "body.subject",
        json={"participants": ["{nurse}"], "subject": LONG_NAME, "body": "hi"},
    ),
    c(
        "conversation-body-blank",
        "POST",
        "/conversations",
        422,
        "body.body",
        json={"participants": ["{nurse}"], "body": "  "},
    ),
    c(
        "conversation-unknown-field",
        "POST",
        "/conversations",
        422,
        "body.urgent",
        json={"participants": ["{nurse}"], "body": "hi", "urgent": {}},
    ),
    c(
        "conversation-bad-idempotency-key",
        "POST",
        "/conversations",
        422,
        "header.Idempotency-Key",
        json={"participants": ["{nurse}"], "body": "hi"},
        headers={"Idempotency-Key": "has space"},
    ),
    c(
        "conversation-say-blank",
        "POST",
        "/conversations/{conversation}/messages",
        422,
        "body.body",
        json={"body": ""},
    ),
    c("conversation-say-unknown", "POST", "/conversations/999999/messages", 404, json={"body": "hi"}),
    c(
        "conversation-say-2**31",
        "POST",
        "/conversations/{beyond}/messages",
        422,
        "path.conversation_id",
        json={"body": "hi"},
    ),
    c(
        "conversation-list-both-cursors",
        "GET",
        "/conversations/{conversation}/messages",
        422,
        "query.after",
        params={"before": 5, "after": 1},
    ),
    c(
        "conversation-message-patch-no-if-match",
        "PATCH",
        "/conversation-messages/{cmessage}",
        428,
        json={"body": "x"},
    ),
    c(
        "conversation-message-patch-stale",
        "PATCH",
        "/conversation-messages/{cmessage}",
        412,
        json={"body": "x"},
        headers=STALE,
    ),
    c(
        "conversation-message-patch-blank",
        "PATCH",
        "/conversation-messages/{cmessage}",
        422,
        "body.body",
        json={"body": ""},
        headers=V1,
    ),
    c(
        "conversation-message-patch-unknown",
        "PATCH",
        "/conversation-messages/999999",
        404,
        json={"body": "x"},
        headers=V1,
    ),
    c("conversation-message-delete-no-if-match", "DELETE", "/conversation-messages/{cmessage}", 428),
    c("conversation-message-delete-stale", "DELETE", "/conversation-messages/{cmessage}", 412, headers=STALE),
    c(
        "conversation-message-delete-2**31",
        "DELETE",
        "/conversation-messages/{beyond}",
        422,
        "path.message_id",
        headers=V1,
    ),
    c(
        "conversation-read-up-to-zero",
        "POST",
        "/conversations/{conversation}/read",
        422,
        "body.up_to",
        json={"up_to": 0},
    ),
    c("conversation-read-not-an-object", "POST", "/conversations/{conversation}/read", 422, "body", json=[1]),
    c("conversation-read-unknown", "POST", "/conversations/999999/read", 404, json={}),
    c("conversation-read-all-anonymous", "POST", "/me/conversations/read-all", 401, as_="anonymous"),
    # Conferences
    c("conference-untitled", "POST", "/conferences", 422, "body.title", json={**CONFERENCE, "title": " "}),
    c(
        "conference-naive-start",
        "POST",
        "/conferences",
        422,
        "body.starts_at",
        json={**CONFERENCE, "starts_at": "2026-12-03T13:00:00"},
    ),
    c(
        "conference-5-minutes",
        "POST",
        "/conferences",
        422,
        "body.duration_minutes",
        json={**CONFERENCE, "duration_minutes": 5},
    ),
    c(
        "conference-plan-off-team",
        "POST",
        "/conferences",
        422,
        "items[0].plan_id",
        json={**CONFERENCE, "items": [{"plan_id": 999999, "reason": "SCS trial candidate"}]},
    ),
    c(
        "conference-plan-twice",
        "POST",
        "/conferences",
        422,
        "items[1].plan_id",
        json={
            **CONFERENCE,
            "items": [{"plan_id": "{plan}", "reason": "a"}, {"plan_id": "{plan}", "reason": "b"}],
        },
    ),
    c(
        "conference-observer-attends",
        "POST",
        "/conferences",
        422,
        "observer_ids",
        json={**CONFERENCE, "attendee_ids": ["{nurse}"], "observer_ids": ["{nurse}"]},
    ),
    c(
        "conference-unknown-attendee",
        "POST",
        "/conferences",
        422,
        "attendee_ids",
        json={**CONFERENCE, "attendee_ids": [999999]},
    ),
    c(
        "conference-facilitator-not-a-lead",
        "POST",
        "/conferences",
        422,
        "facilitator_id",
        json={**CONFERENCE, "facilitator_id": "{nurse}"},
    ),
    c("conference-patch-no-if-match", "PATCH", "/conferences/{conference}", 428, json={"title": "x"}),
    c(
        "conference-patch-stale",
        "PATCH",
        "/conferences/{conference}",
        412,
        json={"title": "x"},
        headers=STALE,
        current="/conferences/{conference}",
    ),
    c(
        "conference-patch-unknown-status",
        "PATCH",
        "/conferences/{conference}",
        422,
        "body.status",
        json={"status": "over"},
        headers=V1,
    ),
    c(
        "conference-patch-2**31",
        "PATCH",
        "/conferences/{beyond}",
        422,
        "path.conference_id",
        json={},
        headers=V1,
    ),
    c(
        "conference-advance-foreign-item",
        "POST",
        "/conferences/{conference}/advance",
        422,
        "item_id",
        json={"item_id": 999999},
    ),
    c("conference-advance-not-an-object", "POST", "/conferences/{conference}/advance", 422, "body", json=[1]),
    c("conference-advance-unknown", "POST", "/conferences/999999/advance", 404, json={}),
    c(
        "conference-item-no-if-match",
        "PATCH",
        "/conferences/{conference}/items/{item}",
        428,
        json={"minutes": "x"},
    ),
    c(
        "conference-item-stale",
        "PATCH",
        "/conferences/{conference}/items/{item}",
        412,
        json={"minutes": "x"},
        headers=STALE,
        current="/conferences/{conference}",
    ),
    c(
        "conference-item-unknown-status",
        "PATCH",
        "/conferences/{conference}/items/{item}",
        422,
        "body.status",
        json={"status": "skipped"},
        headers=V1,
    ),
    c(
        "conference-decision-blank",
        "POST",
        "/conferences/{conference}/items/{item}/decisions",
        422,
        "body.text",
        json={"text": ""},
    ),
    c(
        "conference-decision-task-and-referral",
        "POST",
        "/conferences/{conference}/items/{item}/decisions",
        422,
        "body",
        json={"text": "x", "task": {"discipline": "nurse"}, "referral": {"discipline": "nurse"}},
    ),
    c(
        "conference-decision-unknown-lane",
        "POST",
        "/conferences/{conference}/items/{item}/decisions",
        422,
        "body.task.discipline",
        json={"text": "x", "task": {"discipline": "surgeon"}},
    ),
    c(
        "conference-decision-unknown-item",
        "POST",
        "/conferences/{conference}/items/999999/decisions",
        404,
        json={"text": "x"},
    ),
    c("conference-presence-unknown", "POST", "/conferences/999999/presence", 404),
    c("conference-presence-2**31", "POST", "/conferences/{beyond}/presence", 422, "path.conference_id"),
    c("conference-leave-unknown", "POST", "/conferences/999999/leave", 404),
    c("conference-leave-2**31", "POST", "/conferences/{beyond}/leave", 422, "path.conference_id"),
    # Outcome measures: the score checked against its measure, the field named.
    c("measure-unknown", "POST", "/plans/{plan}/measures", 422, "body.measure", json={"measure": "fiqr"}),
    c("measure-nrs-11", "POST", "/plans/{plan}/measures", 422, "value", json={"measure": "nrs", "value": 11}),
    c(
        "measure-nrs-half",
        "POST",
        "/plans/{plan}/measures",
        422,
        "value",
        json={"measure": "nrs", "value": 6.5},
    ),
    c("measure-nrs-none", "POST", "/plans/{plan}/measures", 422, "value", json={"measure": "nrs"}),
    c(
        "measure-value-text",
        "POST",
        "/plans/{plan}/measures",
        422,
        "body.value",
        json={"measure": "nrs", "value": "6"},
    ),
    c(
        "measure-peg-two",
        "POST",
        "/plans/{plan}/measures",
        422,
        "items",
        json={"measure": "peg", "items": [5, 5]},
    ),
    c(
        "measure-peg-item-11",
        "POST",
        "/plans/{plan}/measures",
        422,
        "body.items.1",
        json={"measure": "peg", "items": [5, 11, 5]},
    ),
    c(
        "measure-naive-time",
        "POST",
        "/plans/{plan}/measures",
        422,
        "body.effective_at",
        json={"measure": "nrs", "value": 5, "effective_at": "2026-12-01T10:00:00"},
    ),
    c(
        "measure-future",
        "POST",
        "/plans/{plan}/measures",
        422,
        "effective_at",
        json={"measure": "nrs", "value": 5, "effective_at": "2999-01-01T00:00:00Z"},
    ),
    c("measure-unknown-plan", "POST", "/plans/999999/measures", 404, json={"measure": "nrs", "value": 5}),
    c(
        "measure-list-unknown-measure",
        "GET",
        "/plans/{plan}/measures",
        422,
        "query.measure",
        params={"measure": "x"},
    ),
    c(
        "measure-withdraw-no-if-match",
        "POST",
        "/measures/{observation}/entered-in-error",
        428,
        json={"reason": "wrong patient"},
    ),
    c(
        "measure-withdraw-stale",
        "POST",
        "/measures/{observation}/entered-in-error",
        412,
        json={"reason": "wrong patient"},
        headers=STALE,
    ),
    c(
        "measure-withdraw-no-reason",
        "POST",
        "/measures/{observation}/entered-in-error",
        422,
        "body.reason",
        json={"reason": "  "},
        headers=V1,
    ),
    c(
        "measure-withdraw-unknown",
        "POST",
        "/measures/999999/entered-in-error",
        404,
        json={"reason": "wrong patient"},
        headers=V1,
    ),
    # Medications: the drug from its coded list, its dose, frequency and route checked against the drug,
    # a hold only on an anticoagulant, acknowledgement only by disciplines on the care team.
    c(
        "med-unknown-drug",
        "POST",
        "/plans/{plan}/medications",
        422,
        "body.drug",
        json={**MED, "drug": "aspirin"},
    ),
    c("med-dose-zero", "POST", "/plans/{plan}/medications", 422, "body.dose", json={**MED, "dose": 0}),
    c("med-dose-text", "POST", "/plans/{plan}/medications", 422, "body.dose", json={**MED, "dose": "ten"}),
    c(
        "med-patch-not-continuous",
        "POST",
        "/plans/{plan}/medications",
        422,
        "frequency",
        json={"drug": "fentanyl-transdermal", "dose": 25, "frequency": "q6h"},
    ),
    c("med-route", "POST", "/plans/{plan}/medications", 422, "route", json={**MED, "route": "transdermal"}),
    c("med-hold-opioid", "POST", "/plans/{plan}/medications", 422, "hold_days", json={**MED, "hold_days": 3}),
    c(
        "med-ack-off-team",
        "POST",
        "/plans/{plan}/medications",
        422,
        "acknowledge_by",
        json={**MED, "acknowledge_by": ["pharmacist"]},
    ),
    c("med-unknown-field", "POST", "/plans/{plan}/medications", 422, "body.mme", json={**MED, "mme": 60}),
    c("med-unknown-plan", "POST", "/plans/999999/medications", 404, json=MED),
    c("med-change-no-if-match", "PATCH", "/medications/{medication}", 428, json={"dose": 2.5}),
    c("med-change-stale", "PATCH", "/medications/{medication}", 412, json={"dose": 2.5}, headers=STALE),
    c(
        "med-change-null-dose",
        "PATCH",
        "/medications/{medication}",
        422,
        "dose",
        json={"dose": None},
        headers=V1,
    ),
    c(
        "med-change-hold-31",
        "PATCH",
        "/medications/{medication}",
        422,
        "body.hold_days",
        json={"hold_days": 31},
        headers=V1,
    ),
    c("med-change-unknown", "PATCH", "/medications/999999", 404, json={"dose": 2.5}, headers=V1),
    # Goals judged by a measure: the target checked against the measure's range, the field named.
    c(
        "goal-target-peg-11",
        "POST",
        "/plans/{plan}/goals",
        422,
        "body.measure_target.value",
        json={
            "description": "PEG 4 or less",
            "measure_target": {"measure": "peg", "comparator": "<=", "value": 11},
        },
    ),
    c(
        "goal-target-no-value",
        "POST",
        "/plans/{plan}/goals",
        422,
        "body.measure_target.value",
        json={"description": "PEG 4 or less", "measure_target": {"measure": "peg", "comparator": "<="}},
    ),
    c(
        "goal-target-comparator",
        "PATCH",
        "/goals/{goal}",
        422,
        "body.measure_target.comparator",
        json={"measure_target": {"measure": "nrs", "comparator": "=<", "value": 4}},
        headers=V1,
    ),
    c(
        "goal-target-measure",
        "PATCH",
        "/goals/{goal}",
        422,
        "body.measure_target.measure",
        json={"measure_target": {"measure": "fiqr", "comparator": "<=", "value": 50}},
        headers=V1,
    ),
    c("goal-progress-unknown-plan", "GET", "/plans/999999/goal-progress", 404),
    c("goal-progress-2**31", "GET", "/plans/{beyond}/goal-progress", 422, "path.plan_id"),
    # Procedure responses: relief, duration and time checked, the field named.
    c(
        "response-relief-101",
        "POST",
        "/tasks/{task}/responses",
        422,
        "body.relief_percent",
        json={"relief_percent": 101, "duration_hours": 6},
    ),
    c(
        "response-relief-text",
        "POST",
        "/tasks/{task}/responses",
        422,
        "body.relief_percent",
        json={"relief_percent": "80", "duration_hours": 6},
    ),
    c(
        "response-duration-0",
        "POST",
        "/tasks/{task}/responses",
        422,
        "body.duration_hours",
        json={"relief_percent": 80, "duration_hours": 0},
    ),
    c(
        "response-future",
        "POST",
        "/tasks/{task}/responses",
        422,
        "observed_at",
        json={"relief_percent": 80, "duration_hours": 6, "observed_at": "2999-01-01T00:00:00Z"},
    ),
    c(
        "response-unknown-task",
        "POST",
        "/tasks/999999/responses",
        404,
        json={"relief_percent": 80, "duration_hours": 6},
    ),
    c("response-list-unknown-task", "GET", "/tasks/999999/responses", 404),
    c("response-list-2**31", "GET", "/tasks/{beyond}/responses", 422, "path.task_id"),
    c(
        "response-withdraw-no-if-match",
        "POST",
        "/responses/{response}/entered-in-error",
        428,
        json={"reason": "wrong block"},
    ),
    c(
        "response-withdraw-stale",
        "POST",
        "/responses/{response}/entered-in-error",
        412,
        json={"reason": "wrong block"},
        headers=STALE,
    ),
    c(
        "response-withdraw-no-reason",
        "POST",
        "/responses/{response}/entered-in-error",
        422,
        "body.reason",
        json={"reason": "  "},
        headers=V1,
    ),
    c(
        "response-withdraw-unknown",
        "POST",
        "/responses/999999/entered-in-error",
        404,
        json={"reason": "wrong block"},
        headers=V1,
    ),
]


@dataclass
class World:
    ids: dict[str, int]
    headers: dict[str, dict[str, str]]

    def fill(self, value: Any) -> Any:
        """Put the world's ids into a path or body: "{patient}" in a string, or a whole "{patient}" value;
        ``TOMORROW`` becomes tomorrow as of the request, not of collection (a run may cross midnight)."""
        if value is TOMORROW:
            return (date.today() + timedelta(days=1)).isoformat()
        if isinstance(value, str):
            if value.startswith("{") and value.endswith("}") and value[1:-1] in self.ids:
                return self.ids[value[1:-1]]
            return value.format(**self.ids) if "{" in value else value
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return value


async def _world(db: Any, settings: Settings, as_: str) -> World:
    async with db() as s:
        admin = await make_user(s, "admin_b", discipline=Discipline.ipm_lead, role=ClinicRole.admin)
        lead = await make_user(s, "lead_b", discipline=Discipline.ipm_lead)
        nurse = await make_user(s, "nurse_b", discipline=Discipline.nurse)
        outsider = await make_user(s, "physio_b", discipline=Discipline.physical_therapist)
        patient = await make_patient(s, members=[(lead, TeamRole.lead), (nurse, TeamRole.member)])
        plan = await make_plan(s, patient)
        task = Task(plan_id=plan.id or 0, title="PDMP check", discipline="nurse")
        goal = Goal(plan_id=plan.id or 0, description="Walk 30 minutes daily")
        s.add_all([task, goal])
        await s.flush()
        referral = Referral(
            plan_id=plan.id or 0,
            patient_id=patient.id or 0,
            requester_id=lead.id or 0,
            discipline="psychologist",
            reason="Pre-SCS psychological evaluation",
            respond_by=utcnow() + timedelta(days=14),
        )
        s.add(referral)
        note = "PDMP check done"
        message = Message(
            plan_id=plan.id or 0,
            patient_id=patient.id or 0,
            author_id=lead.id or 0,
            body=note,
            html=render(note),
        )
        s.add(message)
        await s.flush()
        conversation = Conversation(patient_id=patient.id, created_by=lead.id or 0)
        s.add(conversation)
        await s.flush()
        s.add_all(
            ConversationMember(conversation_id=conversation.id or 0, user_id=u.id or 0) for u in (lead, nurse)
        )
        said = ConversationMessage(
            conversation_id=conversation.id or 0, author_id=lead.id or 0, body=note, html=render(note)
        )
        s.add(said)
        await s.flush()
        conversation.last_message_id = said.id
        conference = Conference(
            title="Spine MDT",
            team="Spine MDT",
            starts_at=utcnow(),
            facilitator_id=lead.id or 0,
            created_by_id=lead.id or 0,
            access_from=utcnow() - timedelta(minutes=30),
            access_until=utcnow() + timedelta(hours=2),
        )
        s.add(conference)
        await s.flush()
        s.add_all(
            ConferenceMember(conference_id=conference.id or 0, user_id=u.id or 0, role=role)
            for u, role in ((lead, "facilitator"), (nurse, "attendee"))
        )
        item = ConferenceItem(
            conference_id=conference.id or 0,
            plan_id=plan.id or 0,
            patient_id=patient.id or 0,
            position=1,
            reason="Decide on RFA",
        )
        s.add(item)
        score = Observation(
            plan_id=plan.id or 0,
            patient_id=patient.id or 0,
            measure="nrs",
            value=6,
            effective_at=utcnow(),
            author_id=nurse.id or 0,
        )
        s.add(score)
        medication = Medication(
            plan_id=plan.id or 0,
            patient_id=patient.id or 0,
            drug="apixaban",
            drug_class="anticoagulant",
            dose=5,
            unit="mg",
            frequency="bid",
            route="oral",
            start_date=date(2026, 11, 1),
            status_since=date(2026, 11, 1),
            author_id=lead.id or 0,
            updated_by_id=lead.id or 0,
        )
        s.add(medication)
        block = ProcedureResponse(
            task_id=task.id or 0,
            plan_id=plan.id or 0,
            patient_id=patient.id or 0,
            relief_percent=80,
            duration_hours=6,
            threshold=80,
            observed_at=utcnow(),
            author_id=lead.id or 0,
        )
        s.add(block)
        await s.flush()
        member = (await s.exec(select(CareTeamMember).where(CareTeamMember.user_id == nurse.id))).one()
        ids = {
            "patient": patient.id,
            "plan": plan.id,
            "task": task.id,
            "goal": goal.id,
            "member": member.id,
            "nurse": nurse.id,
            "outsider": outsider.id,
            "referral": referral.id,
            "message": message.id,
            "lead": lead.id,
            "admin": admin.id,
            "conversation": conversation.id,
            "cmessage": said.id,
            "conference": conference.id,
            "item": item.id,
            "observation": score.id,
            "medication": medication.id,
            "response": block.id,
            "template": await make_template(s, lead.id or 0),
            "beyond": TOO_BIG,  # an id no column can hold, where a path needs the route's shape
        }
        # A token straight from the store: these tests are about input, not about signing in.
        caller = {"lead": lead, "admin": admin}.get(as_)
        token = await open_session(s, caller, kind="bearer", settings=settings) if caller else None
    headers = {as_: {"Authorization": f"Bearer {token.secret}"} if token else {}}
    return World({k: int(v or 0) for k, v in ids.items()}, headers)


async def snapshot(db: Any) -> dict[str, list[str]]:
    """Every row of every table but the sessions (whose last-seen time a request may touch), and but the
    audited reads (a 412 shows the current state, which is a read of patient data and is audited)."""
    out: dict[str, list[str]] = {}
    async with db() as s:
        conn = await s.connection()
        for table in SQLModel.metadata.sorted_tables:
            if table.name == "auth_session":
                continue
            query = sa.select(table)
            if table.name == "audit_entry":
                query = query.where(table.c.action != "read")
            rows = (await conn.execute(query)).all()
            out[table.name] = sorted(repr(tuple(row)) for row in rows)
    return out


@pytest.mark.parametrize("case", CASES)
async def test_bad_input_is_refused_cleanly_and_stores_nothing(
    case: Case, client: Any, db: Any, settings: Settings
) -> None:
    world = await _world(db, settings, case.as_)
    before = await snapshot(db)
    r = await client.request(
        case.method,
        "/api/v1" + world.fill(case.path),
        json=world.fill(case.json) if case.json is not None else None,
        content=case.content,
        params=case.params,
        headers={**world.headers[case.as_], **case.headers},
    )
    assert r.status_code == case.status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    body = r.json()
    assert isinstance(body["type"], str) and body["type"].startswith("/problems/")
    assert isinstance(body["title"], str) and body["title"]
    assert body["status"] == case.status
    if case.status == 422:
        fields = [e["field"] for e in body["errors"]]
        assert all(e["message"] for e in body["errors"])
        if case.field and case.field.endswith("."):
            assert any(f.startswith(case.field) for f in fields), fields
        else:
            assert case.field in fields, fields
    assert await snapshot(db) == before, "a refused request changed stored data"
    if case.status == 412:
        assert "current" in body, body
        if case.current:
            now = (
                await client.get("/api/v1" + world.fill(case.current), headers=world.headers[case.as_])
            ).json()
            assert body["current"] == now.get("plan", now)


def test_cases_cover_every_writable_route() -> None:
    """A new POST/PATCH/PUT/DELETE route needs its bad-input cases here."""
    from careteam.app import create_app

    def shape(path: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", path.removeprefix("/api/v1"))

    covered = {(case.method, shape(case.path)) for case in (p.values[0] for p in CASES)}
    writes = {
        (method.upper(), shape(path))
        for path, ops in create_app().openapi()["paths"].items()
        if path.startswith("/api/")
        for method in ops
        if method in ("post", "patch", "put", "delete")
    }
    assert writes - covered == set()
