"""The ASGI application: routers, static files, and the lifespan that owns engine, broker and hub."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from careteam import __version__
from careteam.api import audit as audit_api
from careteam.api import auth as auth_api
from careteam.api import openapi, problems
from careteam.api import patients as patients_api
from careteam.api import plans as plans_api
from careteam.api import tasks as tasks_api
from careteam.api import users as users_api
from careteam.middleware import RequestContext
from careteam.realtime import endpoint as realtime_endpoint
from careteam.realtime.broker import make_broker
from careteam.realtime.hub import Hub
from careteam.settings import Settings
from careteam.store.engine import make_engine, make_sessionmaker
from careteam.ui import board, pages
from careteam.ui.templating import error_page

WEB = Path(__file__).resolve().parent.parent / "web"


_frozen = False


def _freeze_startup_objects() -> None:
    """Move what exists after the first startup (modules, routes, templates) out of the collector's sight.

    A full collection otherwise walks every one of those long-lived objects: about 70 ms pauses under load,
    seen as the board GET's p99. Once per process: objects of later apps (tests) stay collectable.
    """
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, echo=settings.sql_echo, pool=settings)
        app.state.engine = engine
        app.state.sessions = make_sessionmaker(engine)
        # The hub only reads the log: on SQLite it gets connections that never wait for the write lock.
        read_engine = (
            make_engine(settings.database_url, echo=settings.sql_echo, immediate=False)
            if settings.database_url.startswith("sqlite")
            else engine
        )
        app.state.read_sessions = make_sessionmaker(read_engine)
        broker = make_broker(settings.broker_url)
        app.state.broker = broker
        hub = Hub(app.state.sessions, broker, settings, read_sessions=app.state.read_sessions)
        app.state.hub = hub
        await broker.start()
        await hub.start()
        _freeze_startup_objects()
        try:
            yield
        finally:
            await hub.stop()
            await broker.stop()
            await engine.dispose()
            if read_engine is not engine:
                await read_engine.dispose()

    app = FastAPI(
        title="careteam",
        version=__version__,
        summary="Care-team coordination for interventional pain management clinics.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        generate_unique_id_function=openapi.operation_id,
    )
    app.state.settings = settings
    problems.install(app, html_page=error_page)

    # Each router straight on the app, not under one /api/v1 router: every level of nesting is matched
    # again on every request (about 15% of a PATCH's CPU in a profile).
    for module in (auth_api, users_api, patients_api, plans_api, tasks_api, audit_api):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(pages.router)
    app.include_router(board.router)
    app.include_router(realtime_endpoint.router)
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")
    openapi.install(app)
    app.add_middleware(RequestContext, hsts=settings.production)
    return app
