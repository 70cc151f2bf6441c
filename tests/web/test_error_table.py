"""One table answers every domain error: the JSON API and the HTML pages give the same status."""

from __future__ import annotations

import pytest

from careteam.core.errors import (
    Conflict,
    DomainError,
    Duplicate,
    Forbidden,
    InvalidTransition,
    NotFound,
    Throttled,
    Unauthenticated,
    ValidationFailed,
)
from careteam.web.problems import ERRORS, domain_error_response, error_kind, status_of

ERRORS_RAISED = [
    NotFound("gone"),
    Forbidden("no"),
    Unauthenticated("sign in"),
    Conflict("stale", current={"version": 2}),
    Duplicate("taken", field="mrn"),
    InvalidTransition("not now"),
    ValidationFailed("bad", field="title"),
    Throttled("wait", retry_after=5),
    DomainError("odd"),
]


@pytest.mark.parametrize("exc", ERRORS_RAISED, ids=lambda exc: type(exc).__name__)
def test_the_json_problem_answers_with_the_tables_status_and_type(exc: DomainError) -> None:
    response = domain_error_response(exc)
    kind = ERRORS[type(exc)]
    assert response.status_code == kind.status == status_of(exc)
    assert f'"type":"/problems/{kind.slug}"'.encode() in response.body


def test_a_stale_version_is_412_not_409() -> None:
    assert status_of(Conflict("stale")) == 412


def test_a_subclass_is_answered_as_its_base() -> None:
    class Gone(NotFound):
        pass

    assert error_kind(Gone("gone")) is ERRORS[NotFound]
