"""The ASGI application: routers, static files, and the lifespan that owns engine, broker, hub, jobs."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any, cast

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from careteam import __version__, resources
from careteam.accounts import feed as accounts_feed
from careteam.accounts import pages as accounts_pages
from careteam.accounts import routes as accounts_routes
from careteam.accounts import sessions as auth_sessions
from careteam.conferences import feed as conferences_feed
from careteam.conferences import pages as conferences_pages
from careteam.conferences import routes as conferences_routes
from careteam.conversations import feed as conversations_feed
from careteam.conversations import pages as conversations_pages
from careteam.conversations import routes as conversations_routes
from careteam.db.engine import make_engine, make_sessionmaker
from careteam.events import log as events
from careteam.events import retention
from careteam.fhir import routes as fhir_routes
from careteam.jobs.clock import Clock, SystemClock
from careteam.jobs.registry import JOBS, Registry
from careteam.jobs.runner import Runner
from careteam.medications import pages as medications_pages
from careteam.medications import routes as medications_routes
from careteam.messaging import pages as messaging_pages
from careteam.messaging import routes as messaging_routes
from careteam.notifications import pages as notifications_pages
from careteam.notifications import routes as notifications_routes
from careteam.outcomes import pages as outcomes_pages
from careteam.outcomes import routes as outcomes_routes
from careteam.patients import pages as patients_pages
from careteam.patients import routes as patients_routes
from careteam.plans import feed as plans_feed
from careteam.plans import pages as plans_pages
from careteam.plans import routes as plans_routes
from careteam.protocols import pages as protocols_pages
from careteam.protocols import routes as protocols_routes
from careteam.realtime import endpoint as realtime_endpoint
from careteam.realtime.broker import make_broker
from careteam.realtime.hub import Hub
from careteam.realtime.publish import Publisher
from careteam.referrals import pages as referrals_pages
from careteam.referrals import routes as referrals_routes
from careteam.search import pages as search_pages
from careteam.search import routes as search_routes
from careteam.settings import Settings
from careteam.trail import pages as trail_pages
from careteam.trail import routes as trail_routes
from careteam.web import health, openapi, problems
from careteam.web import metrics as metrics_endpoint
from careteam.web.allow import MethodGuard
from careteam.web.middleware import RequestContext
from careteam.web.templating import error_page
from careteam.work import pages as work_pages
from careteam.work import routes as work_routes

# Each feature: its JSON API and its HTML pages (None: a feature with no pages yet). A new feature is one
# line here.
FEATURES: tuple[tuple[ModuleType, ModuleType | None], ...] = (
    (accounts_routes, accounts_pages),
    (patients_routes, patients_pages),
    (notifications_routes, notifications_pages),
    (plans_routes, plans_pages),
    (referrals_routes, referrals_pages),
    (messaging_routes, messaging_pages),
    (conversations_routes, conversations_pages),
    (conferences_routes, conferences_pages),
    (outcomes_routes, outcomes_pages),
    (medications_routes, medications_pages),
    (protocols_routes, protocols_pages),
    (search_routes, search_pages),
    (trail_routes, trail_pages),
    (work_routes, work_pages),
)

# The kinds of stream a socket may subscribe to, each with its owner's access rule (plan:42, user:12,
# conversation:5, conference:7).
FEEDS = (plans_feed.FEED, accounts_feed.FEED, conversations_feed.FEED, conferences_feed.FEED)

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


class CareteamApp(FastAPI):
    """FastAPI, with ``/ws`` served ahead of the middleware stack and the router.

    An idle websocket is a coroutine chain that lives as long as the socket: every middleware layer, the
    router and FastAPI's websocket route would each keep a frame (with Starlette's ``WebSocket`` and
    FastAPI's dependency state) alive per socket, for hours. ``/ws`` is a bare ASGI app
    (``realtime.endpoint.live_updates``) that does what those layers did for it: the request id, and behind
    trusted proxies the client's address and scheme (``ProxyHeadersMiddleware`` around it alone). Every
    other scope, a websocket on another path too, goes through the whole stack as before.
    """

    # The /ws app; behind trusted proxies, wrapped in their headers' middleware (create_app).
    live_socket: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if realtime_endpoint.is_live_socket(scope):
            scope["app"] = self
            await (self.live_socket or realtime_endpoint.live_updates)(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def app_jobs(settings: Settings) -> Registry:
    """The jobs a server runs: those the features declared (``JOBS``), and the event log's pruning."""
    registry = Registry()
    for job in JOBS:
        registry.add(job.name, job.run, schedule=job.schedule)
    registry.add(retention.PRUNE_JOB, retention.pruner(settings), every=retention.PRUNE_EVERY)
    return registry


def create_app(
    settings: Settings | None = None, *, jobs: Registry | None = None, clock: Clock | None = None
) -> FastAPI:
    """The app; ``jobs`` (default: ``app_jobs``) run on ``clock`` (default: the system's)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, echo=settings.sql_echo, pool=settings)
        app.state.engine = engine
        # Every unit of work on these sessions publishes the events it commits to this process's hub and
        # the broker, whatever opened it (a route, the hub, a job).
        publisher = Publisher()
        # Sessions resolved in the last few seconds are answered from memory; a change to sessions or users
        # committed by this engine empties it (accounts.sessions.SessionCache).
        session_cache = auth_sessions.SessionCache(settings.session_cache_ttl)
        auth_sessions.watch(engine, session_cache)
        app.state.session_cache = session_cache
        app.state.sessions = make_sessionmaker(
            engine, info={events.PUBLISHER: publisher, auth_sessions.CACHE: session_cache}
        )
        # The hub only reads the log: on SQLite it gets connections that never wait for the write lock.
        read_engine = (
            make_engine(settings.database_url, echo=settings.sql_echo, immediate=False)
            if settings.database_url.startswith("sqlite")
            else engine
        )
        app.state.read_sessions = make_sessionmaker(read_engine)
        broker = make_broker(settings.broker_url)
        app.state.broker = broker
        hub = Hub(app.state.sessions, broker, settings, read_sessions=app.state.read_sessions, feeds=FEEDS)
        app.state.hub = hub
        publisher.broker, publisher.hub = broker, hub
        await broker.start()
        await hub.start()

        # A job's unit of work publishes what it commits through these sessions, as a request's does.
        runner = Runner(
            app.state.sessions,
            app_jobs(settings) if jobs is None else jobs,
            clock=app.state.clock,
            poll_seconds=settings.jobs_poll_seconds,
        )
        app.state.jobs = runner
        if settings.jobs_enabled:
            await runner.start()
        _freeze_startup_objects()
        try:
            yield
        finally:
            await runner.stop()
            await hub.stop()
            await broker.stop()
            await engine.dispose()
            if read_engine is not engine:
                await read_engine.dispose()

    app = CareteamApp(
        title="careteam",
        version=__version__,
        summary="Care-team coordination for interventional pain management clinics.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        generate_unique_id_function=openapi.operation_id,
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    problems.install(app, html_page=error_page)

    # Each feature's routers straight on the app, not under one /api/v1 router: every level of nesting is
    # matched again on every request (about 15% of a PATCH's CPU in a profile). One line per feature.
    for routes, pages in FEATURES:
        app.include_router(routes.router, prefix="/api/v1")
        if pages is not None:
            app.include_router(pages.router)
    # In front of every other route: the hottest writes' thin routes (web/fast.py).
    app.router.routes[0:0] = list(plans_routes.FAST_ROUTES)
    app.include_router(fhir_routes.router)  # /fhir/R4: FHIR's own paths, outside /api/v1 and its OpenAPI
    app.include_router(health.router)
    if settings.metrics:
        app.include_router(metrics_endpoint.router)
    app.mount("/static", StaticFiles(directory=resources.STATIC), name="static")
    openapi.install(app)
    app.add_middleware(MethodGuard, refuse=problems.method_not_allowed)
    app.add_middleware(RequestContext, hsts=settings.production)
    if settings.proxies:
        # Outermost: everything after it (throttling, audit, the websocket's Origin check) sees the client's
        # address and scheme as the trusted proxy reported them; any other peer's headers are ignored.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.proxies)
        # The /ws app (served ahead of the stack) gets the same treatment, and only that.
        app.live_socket = cast(
            ASGIApp,
            ProxyHeadersMiddleware(cast(Any, realtime_endpoint.live_updates), trusted_hosts=settings.proxies),
        )
    return app
