"""live.js, the page's live connection, against a scripted /ws (Playwright's WebSocket routing).

A real server never sends a duplicate, a gap, or the newer ``stream`` form of a frame, so these are played
here by hand: what the board would show is each event once, in order, with nothing lost, whichever form
the frames take; and on the wire, today's ``{"type": "subscribe", "plan_id": N, "after": SEQ}``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, Route, WebSocketRoute, expect

from tests.board_world import make_board
from tests.browser.conftest import SignedIn
from tests.referrals.world import make_world

pytestmark = pytest.mark.browser

DEADLINE_S = 15


class ScriptedServer:
    """Stands in for /ws: records every socket the page opens and what the page sent on it.

    The header's inbox shares the board's socket (stream ``user:<id>``); its subscription is granted at once
    and not recorded, so the frames recorded are the board's.
    """

    def __init__(self) -> None:
        self.sockets: list[tuple[WebSocketRoute, list[dict[str, Any]]]] = []

    def accept(self, route: WebSocketRoute) -> None:
        received: list[dict[str, Any]] = []

        def on_message(message: str | bytes) -> None:
            frame = json.loads(message)
            if str(frame.get("stream", "")).startswith("user:"):
                if frame["type"] == "subscribe":
                    route.send(json.dumps({"type": "subscribed", "stream": frame["stream"], "last_seq": 0}))
                return
            received.append(frame)

        route.on_message(on_message)
        self.sockets.append((route, received))

    async def frame(self, socket: int, index: int) -> dict[str, Any]:
        """The index-th frame the page sent on its socket-th socket, once it has been sent."""
        await until(lambda: len(self.sockets) > socket and len(self.sockets[socket][1]) > index)
        return self.sockets[socket][1][index]

    def send(self, socket: int, frame: dict[str, Any]) -> None:
        self.sockets[socket][0].send(json.dumps(frame))


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "the page did not get there"
        await asyncio.sleep(0.02)


async def open_scripted(page: Page, plan_id: int) -> ScriptedServer:
    server = ScriptedServer()
    await page.route_web_socket("**/ws", server.accept)
    await page.goto(f"/plans/{plan_id}")
    await page.evaluate("window.sameDocument = true")
    return server


async def events_after(client: httpx.AsyncClient, api: dict[str, str], plan_id: int, after: int) -> list[Any]:
    r = await client.get(f"/api/v1/plans/{plan_id}/events", params={"after": after}, headers=api)
    assert r.status_code == 200, r.text
    return [{"type": "event", **e} for e in r.json()["items"]]


def as_stream(frame: dict[str, Any]) -> dict[str, Any]:
    """The newer form of a frame: ``"stream": "plan:N"`` instead of ``"plan_id": N``."""
    out = {k: v for k, v in frame.items() if k != "plan_id"}
    out["stream"] = f"plan:{frame['plan_id']}"
    return out


async def add_task(client: httpx.AsyncClient, api: dict[str, str], plan_id: int, title: str) -> Any:
    r = await client.post(
        f"/api/v1/plans/{plan_id}/tasks", json={"discipline": "nurse", "title": title}, headers=api
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_each_event_shows_once_in_order_in_either_frame_form(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_board(db)
    api = await login(w.nurse)
    physio = await signed_in(w.physio)
    page = physio.page
    server = await open_scripted(page, w.plan_id)
    seq = int(await page.locator("#board-page").get_attribute("data-last-seq") or "")

    # On the wire, the form the server speaks today.
    assert await server.frame(0, 0) == {"type": "subscribe", "plan_id": w.plan_id, "after": seq}
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "connecting")
    server.send(0, {"type": "subscribed", "stream": f"plan:{w.plan_id}", "last_seq": seq})
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")

    first = await add_task(client, api, w.plan_id, "Urine drug screen")
    second = await add_task(client, api, w.plan_id, "PDMP check")
    one, two = await events_after(client, api, w.plan_id, seq)

    server.send(0, as_stream(one))
    await expect(page.locator(f"#task-{first['id']}")).to_contain_text("Urine drug screen")
    server.send(0, one)  # a duplicate, in the other form: dropped
    server.send(0, two)
    await expect(page.locator(f"#task-{second['id']}")).to_contain_text("PDMP check")
    await expect(page.locator("#board-page")).to_have_attribute("data-last-seq", str(seq + 2))
    await expect(page.locator(f'#activity-list [data-seq="{seq + 1}"]')).to_have_count(1)

    # A gap: the page drops the socket and resumes from the last seq it applied, so nothing is skipped.
    third = await add_task(client, api, w.plan_id, "Graded walking plan")
    fourth = await add_task(client, api, w.plan_id, "Sleep diary review")
    three, four = await events_after(client, api, w.plan_id, seq + 2)
    server.send(0, four)
    assert await server.frame(1, 0) == {"type": "subscribe", "plan_id": w.plan_id, "after": seq + 2}
    await expect(page.locator(f"#task-{fourth['id']}")).to_have_count(0)
    server.send(1, {"type": "subscribed", "plan_id": w.plan_id, "last_seq": seq + 4})
    server.send(1, as_stream(three))
    server.send(1, as_stream(four))
    await expect(page.locator(f"#task-{fourth['id']}")).to_contain_text("Sleep diary review")
    await expect(page.locator(f"#task-{third['id']}")).to_contain_text("Graded walking plan")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(page.locator("#board-announcer")).to_have_text("Back online. The board is up to date.")
    assert await page.evaluate("window.sameDocument === true")
    assert physio.script_errors == []


async def test_a_resync_reloads_the_board_and_a_lost_plan_stops_it(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_board(db)
    physio = await signed_in(w.physio)
    page = physio.page
    server = await open_scripted(page, w.plan_id)
    seq = int(await page.locator("#board-page").get_attribute("data-last-seq") or "")
    await server.frame(0, 0)
    server.send(0, {"type": "subscribed", "plan_id": w.plan_id, "last_seq": seq})
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")

    # The log cannot fill the gap: the page reloads (a new document, a new socket).
    server.send(0, {"type": "resync", "stream": f"plan:{w.plan_id}", "reason": "log_pruned"})
    assert await server.frame(1, 0) == {"type": "subscribe", "plan_id": w.plan_id, "after": seq}
    assert await page.evaluate("window.sameDocument === undefined")

    # Taken off the care team: the board says so and stops being live, with no reconnect.
    server.send(1, {"type": "subscribed", "plan_id": w.plan_id, "last_seq": seq})
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    server.send(
        1,
        {
            "type": "error",
            "code": "forbidden",
            "detail": "You are no longer on this plan's care team.",
            "plan_id": w.plan_id,
        },
    )
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "stopped")
    await expect(page.locator("#board-alert")).to_contain_text("You are no longer on this plan's care team.")
    await expect(page.locator("#connection-banner")).to_be_hidden()
    assert len(server.sockets) == 2
    assert physio.script_errors == []


# --- A page script that runs after the socket went live ------------------------------------------------
#
# The header's inbox.js and the page's own module script share one connection and run one after the other;
# the browser handles the socket's events in between. When the page's script arrives late (a loaded machine,
# a slow network), the inbox's stream is already granted and the connection live before the page's script
# subscribes and listens: the page must still learn that it is live, and not before its own stream is
# granted. Holding the page's script until the inbox is live plays that order every time.


async def goto_with_script_held(page: Page, url: str, script: str) -> None:
    """Open ``url`` with its module ``script`` held back until the header's inbox is live on the socket."""
    held: asyncio.Future[Route] = asyncio.get_running_loop().create_future()

    async def hold(route: Route) -> None:
        held.set_result(route)

    await page.route(f"**/static/js/{script}", hold)
    await page.goto(url, wait_until="commit")  # "load" waits for the held script
    route = await asyncio.wait_for(held, DEADLINE_S)
    await expect(page.locator("#unread-badge")).to_have_attribute("data-state", "live")
    await route.continue_()


async def test_a_board_whose_script_runs_after_the_socket_went_live_goes_live(
    signed_in: SignedIn, db: Any
) -> None:
    w = await make_board(db)
    physio = await signed_in(w.physio)
    page = physio.page
    await goto_with_script_held(page, f"/plans/{w.plan_id}", "board.js")
    await expect(page.locator("#board-page")).to_have_attribute("data-ready", "true")
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(page.locator("#unread-badge")).to_have_attribute("data-state", "live")
    # Live for the first time: nothing to announce ("Back online" is for after a drop).
    await expect(page.locator("#board-announcer")).to_have_text("")
    assert physio.script_errors == []


async def test_live_only_once_the_late_scripts_stream_is_granted_too(signed_in: SignedIn, db: Any) -> None:
    w = await make_board(db)
    physio = await signed_in(w.physio)
    page = physio.page
    server = ScriptedServer()  # grants the inbox's stream at once; the board's only when told
    await page.route_web_socket("**/ws", server.accept)
    await goto_with_script_held(page, f"/plans/{w.plan_id}", "board.js")
    seq = int(await page.locator("#board-page").get_attribute("data-last-seq") or "")

    assert await server.frame(0, 0) == {"type": "subscribe", "plan_id": w.plan_id, "after": seq}
    # The board's stream is not granted yet: neither the board nor the shared badge may say "live".
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "connecting")
    await expect(page.locator("#unread-badge")).to_have_attribute("data-state", "connecting")
    server.send(0, {"type": "subscribed", "plan_id": w.plan_id, "last_seq": seq})
    await expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    await expect(page.locator("#unread-badge")).to_have_attribute("data-state", "live")
    assert len(server.sockets) == 1
    assert physio.script_errors == []


async def test_a_conversation_whose_script_runs_after_the_socket_went_live_goes_live(
    signed_in: SignedIn, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    r = await client.post(
        "/api/v1/conversations",
        json={"participants": [w.id("physician")], "patient_id": w.patient_id, "body": "UDS result"},
        headers=await login(w.names["nurse"]),
    )
    assert r.status_code == 201, r.text
    physician = await signed_in(w.names["physician"])
    page = physician.page
    await goto_with_script_held(page, f"/messages/{r.json()['id']}", "conversation.js")
    await expect(page.locator("#chat")).to_have_attribute("data-state", "live")
    assert physician.script_errors == []
