"""The ``careteam`` command: serve, seed the demo clinic, migrate, manage accounts."""

from __future__ import annotations

import asyncio
import copy
import getpass
import logging
from typing import Annotated, Any

import typer

from careteam.codes import ClinicRole, Discipline
from careteam.settings import Settings

app = typer.Typer(
    help="careteam: live care-plan boards for interventional pain management clinics.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="Clinician accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations to CARETEAM_DATABASE_URL."""
    from careteam.store import migrate

    settings = Settings()
    migrate.upgrade(settings.database_url, revision)
    typer.echo(f"database at revision {revision}")


def websocket_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves ``/ws``: the same for ``careteam serve`` and for the tests' live servers."""
    from careteam.realtime.protocol import transport_max_size

    return {
        "ws": "websockets-sansio",
        "ws_max_size": transport_max_size(settings.ws_max_frame_bytes),
        # Our own heartbeats keep sockets alive; uvicorn's pings would double them.
        "ws_ping_interval": None,
        # Compression would deflate every frame once per socket: the opposite of encode-once.
        "ws_per_message_deflate": False,
    }


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (share the database and broker).")
    ] = 1,
) -> None:
    """Migrate the database, then serve the app with uvicorn."""
    import uvicorn

    from careteam.store import migrate

    settings = Settings()
    if workers > 1 and settings.broker_url.startswith("memory://"):
        # The in-memory broker cannot wake another process: a worker would miss the writes of the others.
        typer.echo(
            "error: several workers need a shared broker: set CARETEAM_BROKER_URL to redis://... "
            "or postgresql://... (LISTEN/NOTIFY)",
            err=True,
        )
        raise typer.Exit(2)
    migrate.upgrade(settings.database_url)
    uvicorn.run(
        "careteam.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        **websocket_options(settings),
        proxy_headers=True,
        server_header=False,
        # uvicorn's access log prints query strings (a patient search would land in the log); careteam's own
        # access log (careteam/middleware.py) prints paths only.
        access_log=False,
        log_config=_log_config(),
        log_level="info",
    )


class DeniedHandshakeNoise(logging.Filter):
    """Drop uvicorn's "returned without completing handshake" after a websocket upgrade we refused on purpose.

    ``/ws`` refuses a bad Origin or missing credentials with an HTTP answer (401/403, problem+json) via the
    ASGI websocket denial-response extension; uvicorn's sans-I/O implementation sends it, then logs this
    ERROR because it never marks such a handshake complete. Every other ERROR passes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


def _log_config() -> dict[str, Any]:
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["careteam"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config.setdefault("filters", {})["denied_handshake"] = {"()": DeniedHandshakeNoise}
    config["handlers"]["default"]["filters"] = ["denied_handshake"]
    return config


@app.command()
def demo(
    password: Annotated[str, typer.Option(help="Password of every demo account.")] = "demo",  # noqa: S107
) -> None:
    """Seed a demo clinic (idempotent): accounts of every discipline, patients, care teams, plans."""
    from careteam import demo as demo_data
    from careteam.store import migrate

    settings = Settings()
    migrate.upgrade(settings.database_url)
    created = asyncio.run(demo_data.seed(settings, password=password))
    typer.echo(
        f"demo clinic ready ({created} new records). Sign in with any of these, password {password!r}:"
    )
    for username, display, discipline in demo_data.ACCOUNT_SUMMARY:
        typer.echo(f"  {username:<13} {display:<26} {discipline}")


@user_app.command("create")
def user_create(
    username: str,
    display_name: Annotated[str, typer.Option("--name", help="Display name.")],
    discipline: Annotated[Discipline, typer.Option(help="Discipline.")],
    role: Annotated[ClinicRole, typer.Option(help="Clinic-wide role.")] = ClinicRole.clinician,
    password: Annotated[str | None, typer.Option(help="Password (asked for when omitted).")] = None,
) -> None:
    """Create a clinician account."""
    from pydantic import ValidationError

    from careteam.domain import accounts
    from careteam.domain.errors import DomainError
    from careteam.domain.schemas import UserCreate
    from careteam.store.engine import make_engine, make_sessionmaker, unit_of_work

    secret = password or getpass.getpass("Password: ")
    try:
        body = UserCreate(
            username=username, display_name=display_name, discipline=discipline, role=role, password=secret
        )
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(part) for part in err["loc"])
            typer.echo(f"error: {field}: {err['msg']}", err=True)
        raise typer.Exit(1) from exc

    async def run() -> int:
        engine = make_engine(Settings().database_url)
        try:
            async with unit_of_work(make_sessionmaker(engine)) as session:
                user = await accounts.create_user(session, body, actor=None)
                return user.id or 0
        finally:
            await engine.dispose()

    try:
        user_id = asyncio.run(run())
    except DomainError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"created user {username} (id {user_id})")


def main() -> None:
    app()
