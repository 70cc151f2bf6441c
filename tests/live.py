"""The app served by a real uvicorn in the test's event loop, as ``careteam serve`` serves it."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from careteam.cli import server_options
from careteam.settings import Settings


class LiveServer:
    """The ``app`` (its lifespan already running) on 127.0.0.1; port 0 picks a free one. stop() and start()
    again on the same port drop every socket, as a restart or a network cut would."""

    def __init__(self, app: Any, settings: Settings, port: int = 0) -> None:
        self.app, self.settings, self.port = app, settings, port
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            lifespan="off",
            log_config=None,
            log_level="warning",
            timeout_graceful_shutdown=2,
            **server_options(self.settings),
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        self._server, self._task = server, task

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None
