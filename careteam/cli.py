"""The ``careteam`` command: serve, seed the demo clinic, migrate, manage accounts."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import getpass
import logging
import logging.config
import os
import tempfile
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from careteam.core.vocab import ClinicRole, Discipline
from careteam.plans.codes import TaskStatus
from careteam.settings import Settings

# How long a one-off command waits for the broker's link before it writes (and announces) anyway.
BROKER_LINK_SECONDS = 3.0

app = typer.Typer(
    help="careteam: live care-plan boards for interventional pain management clinics.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="Clinician accounts.", no_args_is_help=True)
task_app = typer.Typer(
    help="Tasks on care plans, as a named clinician (audited as her).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(task_app, name="task")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations to CARETEAM_DATABASE_URL."""
    from careteam.db import migrate

    settings = Settings()
    migrate.upgrade(settings.database_url, revision)
    typer.echo(f"database at revision {revision}")


def server_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves careteam (``/ws`` above all): the same for ``careteam serve`` and for the tests'
    live servers."""
    from careteam.realtime.protocol import transport_max_size

    return {
        # X-Forwarded-For is the app's business (CARETEAM_TRUSTED_PROXIES): uvicorn's own would believe it
        # from any local peer.
        "proxy_headers": False,
        "ws": "websockets-sansio",
        "ws_max_size": transport_max_size(settings.ws_max_frame_bytes),
        # Our own heartbeats keep sockets alive; uvicorn's pings would double them.
        "ws_ping_interval": None,
        # Compression would deflate every frame once per socket: the opposite of encode-once.
        "ws_per_message_deflate": False,
    }


# The cyclic collector's thresholds for a served process (CPython's default: 700, 10, 10). See served_app.
SERVED_GC_THRESHOLDS = (5_000, 10, 1_000)


def served_app() -> Any:
    """The app as ``careteam serve`` runs it (in each worker process): ``create_app``, then the cyclic garbage
    collector set for a long-lived server.

    A full collection walks every tracked object, and a process holding thousands of sockets holds hundreds
    of thousands: 100-170 ms with the loop stopped, which the clinic bench saw as its write-to-viewer p99
    (docs/benchmarks.md, section 8). So what was built at import (modules, classes, tables, schemas, about
    half of an idle process's objects) is frozen out of every collection, young collections run less often
    (more short-lived objects are freed by their reference counts before a collection finds them alive and
    promotes them), and a full collection is considered a hundred times less often; it still runs once the
    objects promoted since the last one outnumber a quarter of the old ones (CPython's own bound), so memory
    does not grow without one. Only here: the tests' processes keep the defaults.
    """
    import gc

    from careteam.app import create_app

    application = create_app()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVED_GC_THRESHOLDS)
    return application


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

    from careteam.db import migrate

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
    with _metrics_directory(settings, workers):
        uvicorn.run(
            "careteam.cli:served_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            **server_options(settings),
            server_header=False,
            # uvicorn's access log prints query strings (a patient search would land in the log); careteam's
            # own (careteam/web/middleware.py) prints route templates only.
            access_log=False,
            log_config=log_config(settings.log_format),
            log_level="info",
        )


@contextlib.contextmanager
def _metrics_directory(settings: Settings, workers: int) -> Iterator[None]:
    """Several workers answer /metrics on one port: each writes its values to files in one directory
    (prometheus-client's multiprocess mode) and a scrape sums them, whichever worker it reaches.

    A fresh directory per start, removed at exit, so a previous run's counts never add to this one's; an
    operator's own ``PROMETHEUS_MULTIPROC_DIR`` is used as it is. The workers inherit it from this process's
    environment.
    """
    from careteam.metrics import MULTIPROC_DIR

    if not settings.metrics or workers == 1 or os.environ.get(MULTIPROC_DIR):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="careteam-metrics-") as directory:
        os.environ[MULTIPROC_DIR] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROC_DIR]


class DeniedHandshakeNoise(logging.Filter):
    """Drop uvicorn's "returned without completing handshake" after a websocket upgrade we refused on purpose.

    ``/ws`` refuses a bad Origin or missing credentials with an HTTP answer (401/403, problem+json) via the
    ASGI websocket denial-response extension; uvicorn's sans-I/O implementation sends it, then logs this
    ERROR because it never marks such a handshake complete. Every other ERROR passes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


def log_config(log_format: str) -> dict[str, Any]:
    """uvicorn's logging, with careteam's loggers on its handler, as text or one JSON object a line
    (``CARETEAM_LOG_FORMAT``); other libraries' warnings go the same way."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["careteam"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    config.setdefault("filters", {})["denied_handshake"] = {"()": DeniedHandshakeNoise}
    config["handlers"]["default"]["filters"] = ["denied_handshake"]
    if log_format == "json":
        config["formatters"]["default"] = {"()": "careteam.logs.JsonFormatter"}
    return config


@app.command()
def demo(
    password: Annotated[str, typer.Option(help="Password of every demo account.")] = "demo",  # noqa: S107
) -> None:
    """Seed a demo clinic (idempotent): accounts of every discipline, patients, care teams, plans."""
    from careteam import demo as demo_data
    from careteam.db import migrate

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

    from careteam.accounts import service as accounts
    from careteam.accounts.schemas import UserCreate
    from careteam.core.errors import DomainError
    from careteam.db.engine import make_engine, make_sessionmaker, unit_of_work

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
        named = getattr(exc, "field", None)
        typer.echo(f"error: {named}: {exc.detail}" if named else f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"created user {username} (id {user_id})")


@task_app.command("set-status")
def task_set_status(
    task_id: Annotated[int, typer.Argument(min=1, help="The task's id.")],
    status: Annotated[TaskStatus, typer.Argument(help="The new FHIR Task status.")],
    as_user: Annotated[
        str, typer.Option("--as", help="Username of the clinician acting (on the care team).")
    ],
    if_version: Annotated[
        int | None, typer.Option(help="Refuse if the task is no longer at this version (as If-Match).")
    ] = None,
) -> None:
    """Move a task to another status; everyone viewing its board sees it at once (via CARETEAM_BROKER_URL)."""
    from careteam.core.errors import DomainError
    from careteam.plans import tasks
    from careteam.plans.schemas import TaskUpdate

    async def run(session: Any, actor: Any) -> tuple[str, int]:
        expected = (
            if_version
            if if_version is not None
            else (await tasks.get_task(session, task_id, actor=actor)).version
        )
        task = await tasks.update_task(
            session, task_id, TaskUpdate(status=status), expected_version=expected, actor=actor
        )
        return task.status, task.version

    try:
        new_status, version = asyncio.run(_as_user(as_user, run))
    except DomainError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"task {task_id}: {new_status} (version {version})")


async def _as_user(username: str, work: Any) -> Any:
    """``work(session, actor)`` in one unit of work as ``username``; its events are announced on the broker.

    No hub runs here: the committed events go to CARETEAM_BROKER_URL, and every server's hub reads them
    from the log (with the memory broker, a server's periodic sweep picks them up within seconds).
    """
    from sqlmodel import select

    from careteam.accounts.tables import User
    from careteam.core.actor import actor_of
    from careteam.core.errors import NotFound
    from careteam.db.engine import make_engine, make_sessionmaker, unit_of_work
    from careteam.events import log as events
    from careteam.realtime.broker import make_broker
    from careteam.realtime.publish import Publisher

    settings = Settings()
    engine = make_engine(settings.database_url, pool=settings)
    broker = make_broker(settings.broker_url)
    await broker.start()
    try:
        connected = getattr(broker, "connected", None)
        if connected is not None:
            # A broker publishes only once linked; if it cannot link, the servers' sweep catches up anyway.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(connected.wait(), BROKER_LINK_SECONDS)
        sessions = make_sessionmaker(engine, info={events.PUBLISHER: Publisher(broker)})
        async with unit_of_work(sessions) as session:
            user = (await session.exec(select(User).where(User.username == username))).first()
            if user is None or not user.active:
                raise NotFound(f"No active user {username!r}.")
            return await work(session, actor_of(user, request_id="cli"))
    finally:
        await broker.stop()
        await engine.dispose()


def main() -> None:
    configure_logging()
    app()


def configure_logging() -> None:
    """The one-off commands (demo, db upgrade, user, task) log as the server does (``CARETEAM_LOG_FORMAT``);
    ``serve`` hands the same configuration to uvicorn. Not applied by ``app`` itself, which tests invoke
    in-process."""
    from pydantic import ValidationError

    try:
        log_format = Settings().log_format
    except ValidationError:
        return  # the command reports the bad setting itself
    logging.config.dictConfig(log_config(log_format))
