"""The fast path to idle sockets reads uvicorn's private websocket state: these tests fail when that state
changes shape, and show that without the fast path every frame still arrives, through the ASGI send."""

from __future__ import annotations

import asyncio
import builtins
import importlib.util
import logging
import socket
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState
from websockets.protocol import State

from careteam.cli import server_options
from careteam.realtime import direct
from careteam.settings import Settings
from tests.realtime.conftest import Open, Team


async def _app(scope: Any, receive: Any, send: Any) -> None:  # never called: only the protocol is made
    raise AssertionError("not served")


async def test_uvicorn_protocol_has_what_the_fast_path_reads(settings: Settings) -> None:
    """The protocol object uvicorn makes for a socket, as ``careteam serve`` configures it, on a real
    transport: every private attribute the fast path reads is there, in the shape it expects."""
    config = uvicorn.Config(_app, lifespan="off", log_config=None, **server_options(settings))
    config.load()
    loop = asyncio.get_running_loop()
    proto = config.ws_protocol_class(  # type: ignore[misc]  # as uvicorn's server makes one per connection
        config=config, server_state=ServerState(), app_state={}, _loop=loop
    )
    ours, theirs = socket.socketpair()
    transport, _ = await loop.connect_accepted_socket(lambda: proto, ours)
    try:
        assert direct.PROBLEM is None, direct.PROBLEM
        assert direct.contract_problem(proto) is None
        assert proto.conn.state is State.CONNECTING and proto.conn.extensions == []
        write = direct.direct_writer({direct.SERVER_SEND: proto.send})
        assert write is not None
        assert write(b"frame") is False  # not open yet: nothing written past the handshake
        close = direct.direct_closer({direct.SERVER_SEND: proto.send})
        assert close is not None
        assert close(b"", 1013, "too slow") is False and proto.close_sent is False
    finally:
        transport.close()
        theirs.close()


@pytest.mark.parametrize(
    "missing",
    ["transport", "writable", "close_sent", "disconnected", "loop", "close_timeout", "close_timer", "conn"],
)
def test_the_check_names_what_a_protocol_lacks(missing: str) -> None:
    conn = SimpleNamespace(extensions=[], state=State.OPEN, send_close=print, data_to_send=list)
    attrs: dict[str, Any] = {
        "transport": SimpleNamespace(write=print, is_closing=bool),
        "writable": asyncio.Event(),
        "close_sent": False,
        "disconnected": False,
        "loop": SimpleNamespace(call_later=print),
        "close_timeout": 10.0,
        "close_timer": None,
        "conn": conn,
    }
    assert direct.contract_problem(SimpleNamespace(**attrs)) is None
    del attrs[missing]
    problem = direct.contract_problem(SimpleNamespace(**attrs))
    assert problem is not None and missing in problem


def test_without_uvicorns_sansio_protocol_there_is_no_fast_path(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A fresh copy of the module, imported where uvicorn's sans-I/O protocol cannot be."""
    real_import = builtins.__import__

    def no_sansio(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.endswith("websockets_sansio_impl"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sansio)
    spec = importlib.util.spec_from_file_location("careteam_direct_without_uvicorn", direct.__file__)
    assert spec is not None and spec.loader is not None
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    monkeypatch.setattr(builtins, "__import__", real_import)

    assert fresh.PROBLEM is not None and "cannot be imported" in fresh.PROBLEM
    caplog.set_level(logging.INFO, logger=fresh.__name__)
    assert fresh.direct_writer({fresh.SERVER_SEND: print}) is None
    assert fresh.direct_writer({}) is None
    told = [r for r in caplog.records if r.name == fresh.__name__]
    assert len(told) == 1 and told[0].levelno == logging.INFO and "cannot be imported" in told[0].getMessage()


async def test_with_the_check_failing_every_frame_goes_through_the_asgi_send(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    app: Any,
    open_viewer: Open,
    team: Team,
    login: Any,
    produce: Any,
) -> None:
    """As if uvicorn's protocol had changed: the socket works end to end, only without the fast path."""
    reason = f"the protocol's disconnected is not a bool (forced, {uuid.uuid4()})"  # new for each run
    monkeypatch.setattr(direct, "contract_problem", lambda proto: reason)
    caplog.set_level(logging.INFO, logger=direct.__name__)
    hub = app.state.hub
    headers = await login(team.nurse.username)
    viewers = [await open_viewer(headers) for _ in range(2)]
    for viewer in viewers:
        await viewer.send({"type": "subscribe", "plan_id": team.plan_id, "after": 0})
        assert (await viewer.recv())["type"] == "subscribed"
    assert len(hub.connections) == 2 and all(c.direct is None for c in hub.connections)

    last = await produce(team.plan_id, 20)
    for viewer in viewers:
        assert [f["seq"] for f in await viewer.events(20)] == list(range(1, last + 1))
    await viewers[0].send({"type": "ping"})
    assert (await viewers[0].recv())["type"] == "pong"

    told = [r for r in caplog.records if r.name == direct.__name__ and reason in r.getMessage()]
    assert len(told) == 1 and told[0].levelno == logging.INFO  # once, however many sockets


async def test_the_inbox_hands_over_every_message_in_order_and_loses_none_to_a_cancelled_read() -> None:
    inbox = direct.Inbox([1])
    inbox.put_nowait(2)
    assert inbox.qsize() == 2 and not inbox.empty()
    assert [await inbox.get(), await inbox.get()] == [1, 2]
    assert inbox.empty()
    waiting = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)  # it waits now
    inbox.put_nowait(3)
    assert await waiting == 3
    cancelled = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait(4)  # delivered to the waiter, which is cancelled before it runs
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await inbox.get() == 4
