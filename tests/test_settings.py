"""Settings: every knob from its CARETEAM_* variable, and a production server that will not start insecure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from careteam.app import create_app
from careteam.settings import DEFAULT_SECRET, Settings
from tests.factories import make_user

GOOD_SECRET = "k3y-" + "x" * 28  # 32 characters

# Every field, a value unlike its default, as the environment spells it and as Settings must read it.
ENVIRONMENT: dict[str, tuple[str, Any]] = {
    "DATABASE_URL": ("postgresql+asyncpg://care@db:5432/clinic", "postgresql+asyncpg://care@db:5432/clinic"),
    "BROKER_URL": ("redis://cache:6379/2", "redis://cache:6379/2"),
    "SECRET_KEY": (GOOD_SECRET + "-longer", GOOD_SECRET + "-longer"),
    "ALLOWED_ORIGINS": ("https://clinic.example", "https://clinic.example"),
    "PRODUCTION": ("true", True),
    "TRUSTED_PROXIES": ("10.0.0.0/8,192.0.2.7", "10.0.0.0/8,192.0.2.7"),
    "SESSION_IDLE_MINUTES": ("7", 7),
    "SESSION_ABSOLUTE_HOURS": ("3", 3),
    "TOKEN_HOURS": ("2", 2),
    "LOGIN_MAX_FAILURES": ("4", 4),
    "LOGIN_MAX_FAILURES_PER_ADDRESS": ("25", 25),
    "LOGIN_WINDOW_MINUTES": ("5", 5),
    "WS_QUEUE_SIZE": ("17", 17),
    "WS_MAX_FRAME_BYTES": ("2048", 2048),
    "WS_HEARTBEAT_SECONDS": ("12.5", 12.5),
    "WS_ACCESS_RECHECK_SECONDS": ("0.25", 0.25),
    "SESSION_CACHE_SECONDS": ("0.5", 0.5),
    "WS_SWEEP_SECONDS": ("2.5", 2.5),
    "REPLAY_WINDOW": ("99", 99),
    "WS_MAX_CLIENT_FRAMES": ("50", 50),
    "WS_CLIENT_FRAMES_SECONDS": ("2.5", 2.5),
    "WS_AUDIT_WINDOW_SECONDS": ("60", 60.0),
    "RETENTION_PLAN_DAYS": ("400", 400),
    "RETENTION_USER_DAYS": ("14", 14),
    "RETENTION_CONFERENCE_DAYS": ("90", 90),
    "CONFERENCE_HEARTBEAT_SECONDS": ("5", 5),
    "RETENTION_CONVERSATION_DAYS": ("180", 180),
    "JOBS_ENABLED": ("false", False),
    "JOBS_POLL_SECONDS": ("0.5", 0.5),
    "REFERRAL_RESPOND_HOURS_ROUTINE": ("240", 240),
    "REFERRAL_RESPOND_HOURS_URGENT": ("48", 48),
    "REFERRAL_RESPOND_HOURS_ASAP": ("12", 12),
    "REFERRAL_RESPOND_HOURS_STAT": ("4", 4),
    "TASK_UNDO_SECONDS": ("2.5", 2.5),
    "FHIR_MRN_SYSTEM": ("urn:oid:1.2.840.114350.1.13.0.1", "urn:oid:1.2.840.114350.1.13.0.1"),
    "BLOCK_RELIEF_THRESHOLD": ("50", 50),
    "PAGE_SIZE_MAX": ("20", 20),
    "SQL_ECHO": ("1", True),
    "DB_POOL_SIZE": ("7", 7),
    "DB_MAX_OVERFLOW": ("0", 0),
    "DB_POOL_RECYCLE_SECONDS": ("60", 60),
    "DB_POOL_PRE_PING": ("true", True),
    "METRICS": ("true", True),
    "METRICS_TOKEN": ("scrape-token", "scrape-token"),
    "LOG_FORMAT": ("json", "json"),
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No CARETEAM_* from the outside, and no .env file in the working directory."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(f"CARETEAM_{name}", raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_every_knob_reads_its_environment_variable(clean_env: pytest.MonkeyPatch) -> None:
    assert {name.lower() for name in ENVIRONMENT} == set(Settings.model_fields), "a knob without a test"
    defaults = Settings()
    for name, (raw, _) in ENVIRONMENT.items():
        clean_env.setenv(f"CARETEAM_{name}", raw)
    settings = Settings()
    for name, (_, expected) in ENVIRONMENT.items():
        assert getattr(settings, name.lower()) == expected, name
        assert getattr(defaults, name.lower()) != expected, f"{name}: pick a value unlike the default"


def test_dotenv_file_is_read_and_the_environment_wins(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CARETEAM_TOKEN_HOURS=5\nCARETEAM_REPLAY_WINDOW=77\n")
    clean_env.setenv("CARETEAM_TOKEN_HOURS", "6")
    settings = Settings()
    assert (settings.token_hours, settings.replay_window) == (6, 77)


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("SESSION_IDLE_MINUTES", "0"),
        ("LOGIN_MAX_FAILURES", "-1"),
        ("LOGIN_MAX_FAILURES_PER_ADDRESS", "0"),
        ("WS_MAX_FRAME_BYTES", "10"),
        ("WS_HEARTBEAT_SECONDS", "0"),
        ("TOKEN_HOURS", "soon"),
        ("PRODUCTION", "perhaps"),
        ("METRICS", "perhaps"),
        ("LOG_FORMAT", "xml"),
    ],
)
def test_nonsense_values_are_refused(clean_env: pytest.MonkeyPatch, name: str, raw: str) -> None:
    clean_env.setenv(f"CARETEAM_{name}", raw)
    with pytest.raises(ValidationError, match=name.lower()):
        Settings()


@pytest.mark.parametrize("secret", [None, DEFAULT_SECRET, "x" * 31, ""])
def test_production_refuses_the_default_or_a_short_secret(
    clean_env: pytest.MonkeyPatch, secret: str | None
) -> None:
    clean_env.setenv("CARETEAM_PRODUCTION", "true")
    if secret is not None:
        clean_env.setenv("CARETEAM_SECRET_KEY", secret)
    with pytest.raises(ValidationError, match="CARETEAM_SECRET_KEY"):
        Settings()


def test_production_with_a_long_secret_starts_with_host_only_cookie(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CARETEAM_PRODUCTION", "true")
    clean_env.setenv("CARETEAM_SECRET_KEY", GOOD_SECRET)
    settings = Settings()
    assert settings.production is True
    assert settings.session_cookie_name == "__Host-careteam_session"


def test_development_cookie_works_over_plain_http(clean_env: pytest.MonkeyPatch) -> None:
    # __Host- cookies need HTTPS; on a laptop over http the browser would drop them.
    assert Settings().session_cookie_name == "careteam_session"


def test_origins_are_normalised(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("CARETEAM_ALLOWED_ORIGINS", " https://a.example/ ,https://b.example:8443,, ")
    assert Settings().origins == frozenset({"https://a.example", "https://b.example:8443"})


def test_serve_refuses_to_start_in_production_with_the_default_secret(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import uvicorn

    from careteam.cli import app as cli

    started: list[Any] = []
    clean_env.setattr(uvicorn, "run", lambda *a, **kw: started.append((a, kw)))
    db_file = tmp_path / "prod.db"
    env = {"CARETEAM_PRODUCTION": "true", "CARETEAM_DATABASE_URL": f"sqlite+aiosqlite:///{db_file}"}
    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert result.exit_code != 0
    assert "CARETEAM_SECRET_KEY" in str(result.exception)
    assert started == [] and not db_file.exists()


async def test_page_size_max_caps_list_pages(settings: Settings) -> None:
    """CARETEAM_PAGE_SIZE_MAX: a client asking for more rows than the operator allows is refused."""
    capped = create_app(Settings(**{**settings.model_dump(), "page_size_max": 5}))
    async with capped.router.lifespan_context(capped):
        from careteam.accounts.sessions import open_session

        async with capped.state.sessions() as s:
            user = await make_user(s, "nurse_cap")
            token = await open_session(s, user, kind="bearer", settings=settings)
            await s.commit()
        headers = {"Authorization": f"Bearer {token.secret}"}
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=capped), base_url="http://testserver"
        ) as c:
            assert (await c.get("/api/v1/users", params={"limit": 5}, headers=headers)).status_code == 200
            r = await c.get("/api/v1/users", params={"limit": 6}, headers=headers)
    assert r.status_code == 422, "CARETEAM_PAGE_SIZE_MAX has no effect"
