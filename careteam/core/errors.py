"""Domain exceptions; the edge maps each to one HTTP status and problem type."""

from __future__ import annotations

from typing import Any

from careteam.core.actor import Actor


class DomainError(Exception):
    """Base class: ``detail`` is safe to show the user (no patient data beyond what they may read)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    pass


class Forbidden(DomainError):
    pass


class Unauthenticated(DomainError):
    pass


class Conflict(DomainError):
    """Someone changed the resource first; ``current`` is its present state, shown to the user.

    Showing ``current`` is a read of patient data: ``shown`` says what to audit (resource type, id and
    patient id), and the edge records it after the failed write has rolled back.
    """

    def __init__(
        self,
        detail: str,
        *,
        current: Any = None,
        actor: Actor | None = None,
        shown: tuple[str, object, int | None] | None = None,
    ) -> None:
        super().__init__(detail)
        self.current = current
        self.actor = actor
        self.shown = shown


class Duplicate(DomainError):
    """A unique value is taken (an MRN, a username)."""

    def __init__(self, detail: str, *, field: str) -> None:
        super().__init__(detail)
        self.field = field


class InvalidTransition(DomainError):
    pass


class ValidationFailed(DomainError):
    """Input that parses but breaks a rule; ``field`` names the offending input."""

    def __init__(self, detail: str, *, field: str) -> None:
        super().__init__(detail)
        self.field = field


class Throttled(DomainError):
    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
