"""Every knob of careteam, each with an environment variable ``CARETEAM_<NAME>``."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-insecure-secret-change-me"  # noqa: S105 - the refused default, by design


class DatabaseSettings(BaseSettings):
    """The connection pool's knobs; ``store/engine.py::make_engine`` reads them (a ``Settings`` is one)."""

    model_config = SettingsConfigDict(env_prefix="CARETEAM_", env_file=".env", extra="ignore")

    # PostgreSQL only (SQLite serialises writers in-process). Sized for about 40 requests in flight per
    # process: each holds one connection from its first statement to its commit, and a request above
    # pool size + overflow waits for a connection instead of opening one per request.
    db_pool_size: int = Field(default=40, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    # Connections older than this are replaced at checkout (servers and proxies drop long-idle ones).
    db_pool_recycle_seconds: int = Field(default=1800, ge=1)
    # A round trip before every checkout; without it a connection the server dropped fails one request
    # (rolled back, answered 503 with Retry-After) and SQLAlchemy then replaces the pool's connections.
    db_pool_pre_ping: bool = False


class Settings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARETEAM_", env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./careteam.db"
    broker_url: str = "memory://"
    secret_key: str = DEFAULT_SECRET
    # Comma-separated; the Origin header of browser websockets must be one of these.
    allowed_origins: str = "http://127.0.0.1:8000,http://localhost:8000"
    production: bool = False
    # Comma-separated addresses or CIDRs of the reverse proxies in front: only a request whose peer is one of
    # them has its X-Forwarded-For (the client address: sign-in throttling, audit, sessions) and
    # X-Forwarded-Proto believed. Empty (the default): the headers are ignored and the peer is the client.
    trusted_proxies: str = ""

    session_idle_minutes: int = Field(default=30, ge=1)
    session_absolute_hours: int = Field(default=12, ge=1)
    token_hours: int = Field(default=12, ge=1)
    # Sign-in throttling (accounts/sessions.py): failures within the window count. Beyond this many for one
    # username from one client address, and beyond login_max_failures_per_address from one address across
    # usernames, each further try waits 1, 2, 4... seconds after the last failure, at most the window. No
    # hard lock: the right password from another address signs in at once.
    login_max_failures: int = Field(default=10, ge=1)
    login_max_failures_per_address: int = Field(default=30, ge=1)
    login_window_minutes: int = Field(default=15, ge=1)

    # Realtime
    ws_queue_size: int = Field(default=256, ge=1)
    ws_max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    ws_heartbeat_seconds: float = Field(default=30.0, gt=0)
    ws_access_recheck_seconds: float = Field(default=3.0, gt=0)
    # A process answers a session it resolved this recently from memory (accounts.sessions.SessionCache):
    # another process's logout or deactivation is seen within it, and never later than its sockets close:
    # the cache keeps them at most ws_access_recheck_seconds (session_cache_ttl). 0: off.
    session_cache_seconds: float = Field(default=3.0, ge=0)
    # The safety net under the broker: how often a process compares its plans' cursors with the log.
    ws_sweep_seconds: float = Field(default=5.0, gt=0)
    replay_window: int = Field(default=1000, ge=1)
    # Per socket: more than ws_max_client_frames client frames within ws_client_frames_seconds gets an
    # error frame and close 1008. A board or a conference room sends a handful a minute; 200 in 10 s is a
    # runaway client or a flood.
    ws_max_client_frames: int = Field(default=200, ge=1)
    ws_client_frames_seconds: float = Field(default=10.0, gt=0)
    # One audit row per (session, stream, outcome) within this window: a client that subscribes to the same
    # board again and again (reconnects, a flood) is audited once per window, not once per frame.
    ws_audit_window_seconds: float = Field(default=300.0, gt=0)

    # How long each kind of stream keeps its events (careteam/events/retention.py); a reader behind a
    # pruned range gets resync. A board's history is kept long, an inbox's shortly.
    retention_plan_days: int = Field(default=730, ge=1)
    retention_user_days: int = Field(default=30, ge=1)
    retention_conference_days: int = Field(default=365, ge=1)
    retention_conversation_days: int = Field(default=730, ge=1)

    # A case conference's room says "still here" this often; missing three in a row drops one from presence.
    conference_heartbeat_seconds: int = Field(default=10, ge=1, le=300)

    # Scheduled jobs (careteam/jobs): every serving process runs a runner; each due time runs once overall.
    jobs_enabled: bool = True
    # How often a runner looks for due jobs: a job runs at most this late.
    jobs_poll_seconds: float = Field(default=5.0, gt=0)

    # A referral's respond-by when its sender gives none, by priority (DOMAIN: 14 days / 3 / 1 / same day).
    referral_respond_hours_routine: int = Field(default=14 * 24, ge=1)
    referral_respond_hours_urgent: int = Field(default=3 * 24, ge=1)
    referral_respond_hours_asap: int = Field(default=24, ge=1)
    referral_respond_hours_stat: int = Field(default=8, ge=1)

    # How long whoever completed or cancelled a task may undo it (plans.tasks.undo_task); then "Reopen".
    task_undo_seconds: float = Field(default=10.0, gt=0)

    # FHIR (careteam/fhir): the code system of the clinic's MRNs in Patient.identifier (the EMR's own, e.g.
    # its OID as urn:oid:...), so the EMR recognises its identifiers.
    fhir_mrn_system: str = Field(default="urn:careteam:mrn", min_length=1)
    # A diagnostic block's percent relief at or above this is a positive result (outcomes' procedure
    # responses; often 50-80%, 80% for medial branch blocks before radiofrequency ablation).
    block_relief_threshold: int = Field(default=80, ge=1, le=100)

    page_size_max: int = Field(default=200, ge=1)
    sql_echo: bool = False

    # Operations (docs/operations.md). Prometheus metrics at GET /metrics, off by default; with a token set a
    # scrape must send it as a bearer token (else bind the server to a private interface).
    metrics: bool = False
    metrics_token: str = ""
    # Log lines as JSON objects, one per line, for a log shipper; text for a developer's terminal.
    log_format: Literal["text", "json"] = "text"

    @property
    def session_cache_ttl(self) -> float:
        """How long a process may answer a session from memory: ``session_cache_seconds``, at most
        ``ws_access_recheck_seconds`` (a revoked session's requests end no later than its sockets)."""
        return min(self.session_cache_seconds, self.ws_access_recheck_seconds)

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if self.production and (self.secret_key == DEFAULT_SECRET or len(self.secret_key) < 32):
            raise ValueError(
                "CARETEAM_SECRET_KEY must be set to a random value of at least 32 characters in production"
            )
        return self

    @model_validator(mode="after")
    def _check_trusted_proxies(self) -> Settings:
        for entry in self.proxies:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"CARETEAM_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR (e.g. 10.0.0.0/8)"
                ) from None
        return self

    @property
    def proxies(self) -> list[str]:
        """The trusted proxies' addresses and networks (``trusted_proxies``, split)."""
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @cached_property
    def origins(self) -> frozenset[str]:
        return frozenset(o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip())

    @property
    def session_cookie_name(self) -> str:
        # __Host- binds the cookie to this exact host over HTTPS, with Path=/ and no Domain.
        return "__Host-careteam_session" if self.production else "careteam_session"
