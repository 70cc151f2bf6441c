"""Browser fixtures: the app on a real uvicorn (restartable), and Debian's chromium driven by Playwright.

The app and its database come from tests/conftest.py, on SQLite only (these tests are about the page and
the socket, not the database). The port is picked first, so that ``allowed_origins`` can name the page's
origin: the websocket endpoint refuses any other. Never ``playwright install``: the system chromium is used.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from careteam.accounts import sessions as auth_sessions
from careteam.settings import Settings
from tests.factories import PASSWORD
from tests.live import LiveServer

# Every wait for a state (live, a card arriving) is a deadline for a loaded machine, not a latency budget:
# two browsers, a server and the suite share two cores in CI.
expect.set_options(timeout=15_000)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def backend() -> str:
    """SQLite only (overrides the sqlite/postgres parametrisation of tests/conftest.py)."""
    return "sqlite"


@pytest.fixture
def port() -> int:
    return _free_port()


@pytest.fixture
def settings(database_url: str, port: int) -> Settings:
    return Settings(
        database_url=database_url,
        broker_url="memory://",
        secret_key="test-secret-key-that-is-long-enough-0123456789",
        allowed_origins=f"http://127.0.0.1:{port}",
        ws_heartbeat_seconds=30,
        ws_access_recheck_seconds=0.5,
    )


@pytest.fixture
async def live_server(app: Any, settings: Settings, port: int) -> AsyncIterator[LiveServer]:
    server = LiveServer(app, settings, port)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class Clinician:
    context: BrowserContext
    page: Page
    # Uncaught script errors on the page (failed requests and refused sockets are logged, not thrown).
    script_errors: list[str]


# ``await signed_in("nurse")`` -> a browser context with that user's session cookie and an open page.
SignedIn = Callable[[str], Awaitable[Clinician]]


@pytest.fixture
async def signed_in(browser: Browser, live_server: LiveServer, app: Any, db: Any) -> AsyncIterator[SignedIn]:
    contexts: list[BrowserContext] = []

    async def open_as(username: str) -> Clinician:
        settings: Settings = app.state.settings
        async with db() as session:
            issued = await auth_sessions.login(session, username, PASSWORD, kind="cookie", settings=settings)
        assert issued is not None
        # A tablet in landscape: the board must work there.
        context = await browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
        contexts.append(context)
        await context.add_cookies(
            [
                {
                    "name": settings.session_cookie_name,
                    "value": issued.secret,
                    "url": live_server.url,
                    "httpOnly": True,
                    "sameSite": "Lax",
                }
            ]
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        return Clinician(context, page, errors)

    try:
        yield open_as
    finally:
        for context in contexts:
            await context.close()
