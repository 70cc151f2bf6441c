"""Audit's vocabulary: what was done, and how it ended."""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    read = "read"
    create = "create"
    update = "update"
    delete = "delete"
    login = "login"
    logout = "logout"


class AuditOutcome(StrEnum):
    success = "success"
    failure = "failure"
    # A sign-in refused before its password was checked (throttling).
    throttled = "throttled"
    # A read refused (a websocket subscribe): the resource does not exist, or exists and is not the actor's.
    not_found = "not_found"
    forbidden = "forbidden"
