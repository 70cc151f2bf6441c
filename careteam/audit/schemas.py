"""Audit's output shape."""

from __future__ import annotations

from datetime import datetime

from careteam.audit.codes import AuditAction
from careteam.core.schemas import Public


class AuditEntryPublic(Public):
    id: int
    at: datetime
    user_id: int | None
    action: AuditAction
    patient_id: int | None
    resource_type: str
    resource_id: str | None
    outcome: str
    request_id: str | None
    client_ip: str | None
