"""Protocols' vocabulary: a template's publication status (FHIR PublicationStatus) and its plan event."""

from __future__ import annotations

from enum import StrEnum


class TemplateStatus(StrEnum):
    """FHIR PublicationStatus, as PlanDefinition.status: only an active template is applied."""

    draft = "draft"
    active = "active"
    retired = "retired"


class ProtocolEvent(StrEnum):
    """What protocols put on a plan's stream (besides the goals and tasks it makes through plans)."""

    applied = "protocol.applied"
