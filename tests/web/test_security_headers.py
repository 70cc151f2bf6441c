"""Security headers on every kind of answer: pages, API answers, errors, static files."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from careteam.accounts.sessions import open_session
from careteam.app import create_app
from careteam.patients.codes import TeamRole
from careteam.settings import Settings
from tests.factories import make_patient, make_user

SAFE_REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}

# (what, method, path, signed in, expected status)
ANSWERS = [
    ("sign-in page", "GET", "/login", False, 200),
    ("patients page", "GET", "/patients", True, 200),
    ("page error", "GET", "/patients/999999", True, 404),
    ("api answer", "GET", "/api/v1/patients/{patient}", True, 200),
    ("api list", "GET", "/api/v1/patients", True, 200),
    ("api 401", "GET", "/api/v1/me", False, 401),
    ("api 404", "GET", "/api/v1/patients/999999", True, 404),
    ("api 405", "DELETE", "/api/v1/patients", True, 405),
    ("api 422", "GET", "/api/v1/patients/-1", True, 422),
    ("no such route", "GET", "/no/such/thing", False, 404),
    ("openapi", "GET", "/openapi.json", False, 200),
    ("static file", "GET", "/static/css/app.css", False, 200),
]


def csp_directives(header: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def assert_secure_headers(r: httpx.Response) -> None:
    csp = csp_directives(r.headers["Content-Security-Policy"])
    script_src = csp.get("script-src", csp.get("default-src"))
    assert script_src, "no script-src (nor default-src)"
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, script_src
    assert csp.get("frame-ancestors") == ["'none'"]
    assert csp.get("object-src") == ["'none'"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] in SAFE_REFERRER_POLICIES
    assert r.headers["X-Frame-Options"] == "DENY"


async def _signed_in(db: Any, settings: Settings) -> tuple[dict[str, str], dict[str, str], int]:
    async with db() as s:
        nurse = await make_user(s, "nurse_sh")
        patient = await make_patient(s, members=[(nurse, TeamRole.member)])
        bearer = await open_session(s, nurse, kind="bearer", settings=settings)
        cookie = await open_session(s, nurse, kind="cookie", settings=settings)
    return (
        {"Authorization": f"Bearer {bearer.secret}"},
        {"Cookie": f"{settings.session_cookie_name}={cookie.secret}"},
        patient.id or 0,
    )


@pytest.mark.parametrize(
    ("what", "method", "path", "signed_in", "status"), ANSWERS, ids=[a[0] for a in ANSWERS]
)
async def test_every_answer_carries_the_security_headers(
    what: str, method: str, path: str, signed_in: bool, status: int, client: Any, db: Any, settings: Settings
) -> None:
    bearer, cookie, patient_id = await _signed_in(db, settings)
    headers = (cookie if not path.startswith("/api/") else bearer) if signed_in else {}
    r = await client.request(method, path.format(patient=patient_id), headers=headers)
    assert r.status_code == status, r.text[:200]
    assert_secure_headers(r)
    assert r.headers["X-Request-ID"]
    if not path.startswith("/static/"):
        # Patient data must not linger in shared or browser caches.
        assert "no-store" in r.headers["Cache-Control"]
    assert "Strict-Transport-Security" not in r.headers  # development over http


async def test_docs_page_keeps_framing_and_sniffing_protection(client: Any) -> None:
    r = await client.get("/docs")
    assert r.status_code == 200
    assert csp_directives(r.headers["Content-Security-Policy"]).get("frame-ancestors") == ["'none'"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


async def test_production_adds_hsts(settings: Settings) -> None:
    prod = create_app(Settings(**{**settings.model_dump(), "production": True}))
    async with prod.router.lifespan_context(prod):
        transport = httpx.ASGITransport(app=prod)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            for path in ("/login", "/api/v1/me"):
                r = await c.get(path)
                assert_secure_headers(r)
                hsts = r.headers["Strict-Transport-Security"]
                assert int(hsts.split("max-age=")[1].split(";")[0]) >= 31536000
