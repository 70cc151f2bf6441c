"""Fuzzing the FHIR routes: resources, bundles, search parameters and headers drawn by Hypothesis from the
elements the facade reads (and anything else JSON can hold) never answer 5xx, and every refusal is an
OperationOutcome."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careteam.fhir.codes import FHIR_JSON, RESOURCES
from tests.referrals.world import World, make_world

BASE = "/fhir/R4"
KINDS = [r.type for r in RESOURCES] + ["Medication", "Bundle"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(
        [
            "Patient/1",
            "CarePlan/1",
            "Practitioner/1",
            "Task/1",
            "ServiceRequest/x",
            "Practitioner/9999999999",
            "urn:uuid:x",
            "2026-12-01",
            "active",
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
ELEMENTS = [
    "id",
    "status",
    "intent",
    "priority",
    "subject",
    "for",
    "basedOn",
    "requester",
    "performer",
    "performerType",
    "reasonCode",
    "identifier",
    "name",
    "birthDate",
    "owner",
    "statusReason",
    "description",
    "note",
    "restriction",
    "occurrencePeriod",
    "authoredOn",
    "participant",
    "goal",
    "lifecycleStatus",
    "target",
    "period",
    "title",
    "type",
    "entry",
]
references = st.fixed_dictionaries(
    {"reference": st.sampled_from(["Patient/1", "CarePlan/1", "Practitioner/2"])}
)
resources = st.builds(
    lambda kind, body: {"resourceType": kind, **body},
    st.sampled_from(KINDS),
    st.dictionaries(
        st.sampled_from(ELEMENTS),
        st.one_of(json_values, references, st.lists(references, max_size=2)),
        max_size=6,
    ),
)
# Valid resources with one element replaced by anything: the refusals deep in the mapping, not the parser's.
VALID = {
    "ServiceRequest": {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/1"},
        "basedOn": [{"reference": "CarePlan/1"}],
        "performerType": {"coding": [{"system": "http://snomed.info/sct", "code": "59944000"}]},
        "reasonCode": [{"text": "Pre-SCS psychological evaluation"}],
    },
    "Patient": {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:careteam:mrn", "value": "IPM-1"}],
        "name": [{"text": "Grace Okafor"}],
        "birthDate": "1959-06-02",
    },
    "Task": {
        "resourceType": "Task",
        "status": "in-progress",
        "intent": "plan",
        "description": "UDS due",
        "basedOn": [{"reference": "CarePlan/1"}],
    },
}
mutated = st.builds(
    lambda kind, key, value: {**VALID[kind], key: value},
    st.sampled_from(sorted(VALID)),
    st.sampled_from(ELEMENTS),
    st.one_of(json_values, references, st.lists(references, max_size=2)),
)
bundles = st.builds(
    lambda entries, kind: {"resourceType": "Bundle", "type": kind, "entry": entries},
    st.lists(
        st.fixed_dictionaries(
            {
                "fullUrl": st.text(max_size=12),
                "resource": resources,
                "request": st.dictionaries(
                    st.sampled_from(["method", "url"]),
                    st.sampled_from(["POST", "PUT", "Patient", "GET"]),
                    max_size=2,
                ),
            }
        ),
        max_size=4,
    ),
    st.sampled_from(["transaction", "batch", "searchset", 7]),
)
query_values = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["1", "Patient/1", "0", "-1", "99999999999", "9999999999", "ge2026-12-01", "a|b", ""]),
)
searches = st.dictionaries(
    st.sampled_from(
        [
            "_id",
            "patient",
            "subject",
            "status",
            "code",
            "_count",
            "_offset",
            "_include",
            "identifier",
            "agent",
            "_lastUpdated",
            "category",
            "x",
        ]
    ),
    query_values,
    max_size=4,
)
headers = st.dictionaries(
    st.sampled_from(["If-Match", "If-None-Exist", "Prefer"]),
    st.one_of(
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
        st.sampled_from(['W/"1"', '"1"', "identifier=a|b", "return=minimal"]),
    ),
    max_size=3,
)

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _no_5xx(r: Any, what: Any) -> None:
    assert r.status_code < 500, (what, r.status_code, r.text[:300])
    if (r.status_code >= 400 and r.status_code != 405) or (r.content and r.status_code >= 400):
        assert r.json()["resourceType"] == "OperationOutcome", (what, r.text[:300])


@pytest.fixture
async def fuzz_world(client: Any, db: Any, login: Any) -> tuple[World, dict[str, str]]:
    w = await make_world(db)
    return w, await login(w.names["lead"])


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@FUZZ
@given(
    resource=resources,
    extra=headers,
    kind=st.sampled_from(KINDS),
    ident=st.sampled_from(["1", "2", "x", "0"]),
)
async def test_writes_never_answer_5xx(
    client: Any, fuzz_world: tuple[World, dict[str, str]], resource: Any, extra: Any, kind: str, ident: str
) -> None:
    _, h = fuzz_world
    sent = {**h, "Content-Type": FHIR_JSON, **extra}
    _no_5xx(await client.post(f"{BASE}/{kind}", json=resource, headers=sent), ("POST", kind, resource, extra))
    _no_5xx(
        await client.put(f"{BASE}/{kind}/{ident}", json=resource, headers=sent),
        ("PUT", kind, resource, extra),
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@FUZZ
@given(bundle=bundles)
async def test_bundles_never_answer_5xx(client: Any, db: Any, login: Any, bundle: Any) -> None:
    from careteam.core.vocab import ClinicRole
    from tests.factories import make_user

    async with db() as s:
        emr = await make_user(s, role=ClinicRole.integration)
    h = await login(emr.username)
    _no_5xx(await client.post(BASE, json=bundle, headers={**h, "Content-Type": FHIR_JSON}), bundle)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@FUZZ
@given(
    kind=st.sampled_from(KINDS),
    params=searches,
    ident=st.sampled_from(["1", "x", "9999999999", "1/_history", "1/_history/2"]),
)
async def test_reads_and_searches_never_answer_5xx(
    client: Any, fuzz_world: tuple[World, dict[str, str]], kind: str, params: Any, ident: str
) -> None:
    _, h = fuzz_world
    _no_5xx(await client.get(f"{BASE}/{kind}", params=params, headers=h), (kind, params))
    _no_5xx(await client.get(f"{BASE}/{kind}/{ident}", headers=h), (kind, ident))
