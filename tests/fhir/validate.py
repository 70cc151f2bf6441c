"""Every resource the facade answers is checked against fhir.resources' models (R4B, whose workflow
resources used here match R4), and its codes against the value sets the mapping promises."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class

# Required bindings the models do not check (they take any code): FHIR's value sets.
STATUS = {
    "CareTeam": {"proposed", "active", "suspended", "inactive", "entered-in-error"},
    "CarePlan": {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"},
    "Task": {
        "draft",
        "requested",
        "received",
        "accepted",
        "rejected",
        "ready",
        "cancelled",
        "in-progress",
        "on-hold",
        "failed",
        "completed",
        "entered-in-error",
    },
    "ServiceRequest": {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"},
    "Communication": {
        "preparation",
        "in-progress",
        "not-done",
        "on-hold",
        "stopped",
        "completed",
        "entered-in-error",
        "unknown",
    },
    "Observation": {
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
    },
}
PRIORITY = {"routine", "urgent", "asap", "stat"}
GOAL_STATUS = {
    "proposed",
    "planned",
    "accepted",
    "active",
    "on-hold",
    "completed",
    "cancelled",
    "entered-in-error",
    "rejected",
}


def check(resource: dict[str, Any]) -> None:
    """Raise unless ``resource`` is a valid R4B resource whose coded statuses are in their value sets."""
    kind = resource["resourceType"]
    get_fhir_model_class(kind).model_validate(resource)
    if kind in STATUS:
        assert resource["status"] in STATUS[kind], resource
    if "priority" in resource:
        assert resource["priority"] in PRIORITY, resource
    if kind == "Goal":
        assert resource["lifecycleStatus"] in GOAL_STATUS, resource
    if kind == "Bundle":
        for entry in resource.get("entry", []):
            if "resource" in entry:  # a transaction-response's entries carry a response only
                check(entry["resource"])
