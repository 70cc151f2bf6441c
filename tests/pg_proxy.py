"""A TCP proxy between the app and PostgreSQL that a test cuts and restores, as a network cut or a stopped
server would cut it.

``cut()``: new connections are refused, bytes the app sends from then on are dropped, and once PostgreSQL has
answered what it had already received (counted by its ReadyForQuery messages) every connection is closed.
So a COMMIT either never reaches the server or its answer reaches the app: the app knows the outcome of
every transaction, which "no write answered 503 is stored" needs. (A real outage can also lose the answer to
a COMMIT the server carried out; docs/operations.md says how a client retries such a write safely.)

Connections must not use TLS (``?ssl=disable``): the proxy reads the protocol's message boundaries.
"""

from __future__ import annotations

import asyncio
import contextlib

_SSL_REQUEST = 80877103
_GSS_REQUEST = 80877104
_CANCEL_REQUEST = 80877102


class _Link:
    """One client connection and its connection to PostgreSQL."""

    def __init__(
        self,
        proxy: PgProxy,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        server: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.proxy = proxy
        (self.client_reader, self.client_writer), (self.server_reader, self.server_writer) = client, server
        self.owed = 0  # ReadyForQuery messages the server owes for what it has received
        self.one_byte_answers = 0  # SSLRequest/GSSENCRequest: answered with one byte, unframed
        self.startup = True
        self.up_buf = b""
        self.down_buf = b""
        self.answered = asyncio.Event()
        self.answered.set()

    def _count_up(self, data: bytes) -> None:
        buf = self.up_buf + data
        while True:
            if self.startup:
                if len(buf) < 8:
                    break
                length = int.from_bytes(buf[:4])
                if len(buf) < length:
                    break
                code = int.from_bytes(buf[4:8])
                if code in (_SSL_REQUEST, _GSS_REQUEST):
                    self.one_byte_answers += 1
                elif code != _CANCEL_REQUEST:
                    self.startup = False
                    self.owed += 1  # authentication ends with ReadyForQuery
                buf = buf[length:]
            else:
                if len(buf) < 5:
                    break
                length = 1 + int.from_bytes(buf[1:5])
                if len(buf) < length:
                    break
                if buf[:1] in (b"S", b"Q"):  # Sync, Query: each answered with one ReadyForQuery
                    self.owed += 1
                buf = buf[length:]
        self.up_buf = buf
        if self.owed or self.one_byte_answers:
            self.answered.clear()

    def _count_down(self, data: bytes) -> None:
        buf = self.down_buf + data
        while buf:
            if self.one_byte_answers:
                self.one_byte_answers -= 1
                buf = buf[1:]
                continue
            if len(buf) < 5:
                break
            length = 1 + int.from_bytes(buf[1:5])
            if len(buf) < length:
                break
            if buf[:1] == b"Z":
                self.owed -= 1
            buf = buf[length:]
        self.down_buf = buf
        if self.owed <= 0 and not self.one_byte_answers:
            self.answered.set()

    async def _up(self) -> None:
        while True:
            data = await self.client_reader.read(65536)
            if self.proxy.cutting:
                return  # dropped: the server never sees it; the link is closed once answered
            if not data:
                self.server_writer.close()
                return
            self._count_up(data)
            self.server_writer.write(data)
            await self.server_writer.drain()

    async def _down(self) -> None:
        try:
            while data := await self.server_reader.read(65536):
                self._count_down(data)
                self.client_writer.write(data)
                await self.client_writer.drain()
        finally:
            self.answered.set()  # the server has gone: nothing more will come
            self.client_writer.close()

    async def run(self) -> None:
        await asyncio.gather(self._up(), self._down(), return_exceptions=True)

    def close(self) -> None:
        self.client_writer.close()
        self.server_writer.close()


class PgProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.cutting = False
        self.links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.cutting = False
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cutting:
            writer.close()
            return
        try:
            server = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        if self.cutting:
            writer.close()
            server[1].close()
            return
        link = _Link(self, (reader, writer), server)
        self.links.add(link)
        try:
            await link.run()
        finally:
            self.links.discard(link)
            link.close()

    async def cut(self) -> None:
        """Refuse new connections, drop what clients send, deliver what the server owes, close the rest."""
        self.cutting = True
        assert self._server is not None
        self._server.close()
        # A link still owed an answer may be waiting for a lock another link's transaction holds (its COMMIT
        # dropped): close the answered links first, which ends their transactions, then each one as it is
        # answered. A COMMIT never waits for a lock, so one forwarded is always answered before its close.
        pending = set(self.links)
        async with asyncio.timeout(10):
            while pending:
                for link in [link for link in pending if link.answered.is_set()]:
                    with contextlib.suppress(ConnectionError):
                        await link.client_writer.drain()
                    link.close()
                    pending.discard(link)
                if pending:
                    waits = [asyncio.ensure_future(link.answered.wait()) for link in pending]
                    try:
                        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        for wait in waits:
                            wait.cancel()
        await self._server.wait_closed()
        self._server = None

    async def restore(self) -> None:
        """Accept connections again on the same port, as a restarted server or a healed network does."""
        await self.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self.cut()
