"""The team thread on the board page, as the server renders it: messages as text or sanitised HTML, "seen
by", urgent acknowledgements, the viewer's actions and unread counts, at a constant number of queries."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlmodel import select

from careteam.accounts.tables import User
from careteam.messaging import reads
from careteam.messaging import service as messaging
from tests.factories import statements
from tests.messaging.world import World, make_task, make_world, post
from tests.plans.test_pages import Node, cookie, dom


async def thread_of(
    app: Any, client: httpx.AsyncClient, db: Any, w: World, who: str
) -> tuple[Node, dict[str, Any]]:
    r = await client.get(f"/plans/{w.plan_id}", headers=await cookie(app, db, w.names[who]))
    assert r.status_code == 200, r.text
    page = dom(r.text)
    thread = page.find(id="team-thread")
    state = page.find(id="thread-state")
    assert thread is not None and state is not None
    return thread, json.loads(state.all_text())


def message(thread: Node, message_id: int) -> Node:
    found = thread.find(id=f"message-{message_id}")
    assert found is not None, f"no message-{message_id}"
    return found


def part(node: Node, name: str) -> Node:
    found = node.find(data_part=name)
    assert found is not None, name
    return found


def button(node: Node, action: str) -> Node:
    found = node.find(data_message_action=action)
    assert found is not None, action
    return found


async def test_the_thread_shows_text_as_text_and_the_markdown_subset_as_html(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    path = f"/plans/{w.plan_id}"
    hostile = (
        await post(client, nurse, path, "<img src=x onerror=alert(1)> <script>alert(1)</script>")
    ).json()
    link = (await post(client, nurse, path, "[x](javascript:alert(1)) and [ok](https://example.org)")).json()
    rich = (await post(client, nurse, path, "**worse nights** after *PT*\n\n- one\n- two\n\n`@team`")).json()

    thread, _ = await thread_of(app, client, db, w, "physician")
    shown = message(thread, hostile["id"])
    html = shown.find(data_field="html")
    assert html is not None
    assert html.all_text().strip() == "<img src=x onerror=alert(1)> <script>alert(1)</script>"
    assert not thread.find_all("img") and not thread.find_all("script")
    anchors = message(thread, link["id"]).find_all("a")
    assert [a.attrs["href"] for a in anchors] == ["https://example.org"]
    assert anchors[0].attrs["rel"] == "noopener noreferrer"
    body = message(thread, rich["id"])
    assert [n.all_text() for n in body.find_all("strong") if "message__author" not in n.classes] == [
        "worse nights"
    ]
    assert [n.all_text() for n in body.find_all("li")] == ["one", "two"]
    assert [n.all_text() for n in body.find_all("code")] == ["@team"]
    assert shown.find(data_field="author") is not None
    # Oldest at the top.
    ids = [int(n.attrs["data-message-id"]) for n in thread.find_all("article")]
    assert ids == [hostile["id"], link["id"], rich["id"]]


async def test_seen_by_edited_removed_and_the_viewers_actions(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    nurse, physician = await login(w.names["nurse"]), await login(w.names["physician"])
    path = f"/plans/{w.plan_id}"
    first = (await post(client, nurse, path, "Block done")).json()
    second = (await post(client, nurse, path, "70% relief")).json()
    gone = (await post(client, physician, path, "Wrong patient, sorry")).json()
    r = await client.post(f"/api/v1{path}/messages/read", json={"up_to": first["id"]}, headers=physician)
    assert r.status_code == 200, r.text
    r = await client.patch(
        f"/api/v1/messages/{second['id']}",
        json={"body": "70% relief at 30 min"},
        headers={**nurse, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    r = await client.delete(f"/api/v1/messages/{gone['id']}", headers={**physician, "If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text

    thread, state = await thread_of(app, client, db, w, "nurse")
    await remember_names(db)
    assert (
        part(message(thread, first["id"]), "seen").all_text().strip() == f"Seen by {display(w, 'physician')}"
    )
    assert "hidden" in part(message(thread, second["id"]), "seen").attrs
    assert "hidden" not in part(message(thread, second["id"]), "edited").attrs
    removed = message(thread, gone["id"])
    assert "hidden" not in part(removed, "removed").attrs
    assert "Wrong patient" not in removed.all_text()
    # Her own message: edit and remove; the physician's (removed): nothing; anyone may make a task of hers.
    mine = message(thread, first["id"])
    assert "hidden" not in button(mine, "edit").attrs and "hidden" not in button(mine, "remove").attrs
    assert "hidden" in button(removed, "make-task").attrs
    assert state["positions"][f"plan:{w.plan_id}"] == {str(w.id("physician")): first["id"]}

    # The lead removes anyone's message; the physician only his own.
    lead_thread, _ = await thread_of(app, client, db, w, "lead")
    assert "hidden" not in button(message(lead_thread, first["id"]), "remove").attrs
    assert "hidden" in button(message(lead_thread, first["id"]), "edit").attrs
    doc_thread, _ = await thread_of(app, client, db, w, "physician")
    assert "hidden" in button(message(doc_thread, first["id"]), "remove").attrs


def display(w: World, who: str) -> str:
    return names[w.id(who)]


names: dict[int, str] = {}


async def remember_names(db: Any) -> None:
    async with db() as s:
        for user in await s.exec(select(User)):
            names[user.id or 0] = user.display_name


async def test_urgent_the_acknowledge_button_and_who_acknowledged(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    r = await client.post(
        f"/api/v1/plans/{w.plan_id}/messages",
        json={"body": "Hold apixaban", "urgent": {"users": [w.id("physician"), w.id("lead")]}},
        headers=nurse,
    )
    urgent = r.json()
    r = await client.post(f"/api/v1/messages/{urgent['id']}/ack", headers=await login(w.names["lead"]))
    assert r.status_code == 200, r.text

    thread, _ = await thread_of(app, client, db, w, "physician")
    await remember_names(db)
    shown = message(thread, urgent["id"])
    assert "is-urgent" in shown.classes
    assert "hidden" not in button(shown, "ack").attrs
    assert f"Acknowledged by {display(w, 'lead')}" in shown.all_text()
    assert f"Waiting for {display(w, 'physician')}" in " ".join(part(shown, "waiting").all_text().split())
    lead_view, _ = await thread_of(app, client, db, w, "lead")
    assert "hidden" in button(message(lead_view, urgent["id"]), "ack").attrs


async def test_unread_counts_and_comment_counts_on_load(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    nurse, physician = await login(w.names["nurse"]), await login(w.names["physician"])
    task = await make_task(client, nurse, w)
    other = await make_task(client, nurse, w, title="PDMP check")
    await post(client, nurse, f"/plans/{w.plan_id}", "Block done")
    await post(client, nurse, f"/plans/{w.plan_id}", "Relief 70%")
    await post(client, nurse, f"/tasks/{task['id']}", "UDS booked")
    await post(client, physician, f"/tasks/{task['id']}", "Thanks")
    removed = (await post(client, nurse, f"/tasks/{other['id']}", "Oops")).json()
    r = await client.delete(f"/api/v1/messages/{removed['id']}", headers={**nurse, "If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text

    thread, state = await thread_of(app, client, db, w, "physician")
    unread = thread.find(data_field="unread-count")
    assert unread is not None and unread.all_text() == "2"
    assert state["thread_unread"] == 2
    assert state["comments"] == {str(task["id"]): 2}
    assert state["tasks_unread"] == {str(task["id"]): 1}
    _, nurse_state = await thread_of(app, client, db, w, "nurse")
    assert nurse_state["thread_unread"] == 0 and nurse_state["tasks_unread"] == {str(task["id"]): 1}


async def test_the_thread_costs_the_same_queries_for_3_or_30_messages(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    counts = []
    for n in (3, 30):
        w = await make_world(db)
        nurse, physician = await login(w.names["nurse"]), await login(w.names["physician"])
        task = await make_task(client, nurse, w)
        for i in range(n):
            await post(client, nurse if i % 2 else physician, f"/plans/{w.plan_id}", f"Note {i}")
            await post(client, nurse, f"/tasks/{task['id']}", f"Comment {i}")
        newest = (await post(client, nurse, f"/plans/{w.plan_id}", "Make me a task")).json()
        r = await client.post(f"/api/v1/messages/{newest['id']}/task", json={}, headers=physician)
        assert r.status_code == 201, r.text
        await client.post(f"/api/v1/plans/{w.plan_id}/messages/read", headers=physician)
        await client.post(f"/api/v1/tasks/{task['id']}/messages/read", headers=physician)
        headers = await cookie(app, db, w.names["nurse"])
        with statements(app, begin=False) as sent:
            r = await client.get(f"/plans/{w.plan_id}", headers=headers)
        assert r.status_code == 200
        counts.append(len(sent))
    assert counts[0] == counts[1], counts

    async with db() as s:
        with statements(app) as sent:
            positions = await reads.plan_positions(s, w.plan_id)
            comments = await messaging.task_comment_counts(s, w.plan_id)
    assert len(sent) == 2
    assert positions[f"plan:{w.plan_id}"] == {w.id("physician"): newest["id"]}
    assert comments == {task["id"]: 30}


async def test_positions_leave_out_those_taken_off_the_team(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    from tests.messaging.world import take_off_team

    w = await make_world(db)
    nurse, physician = await login(w.names["nurse"]), await login(w.names["physician"])
    await post(client, nurse, f"/plans/{w.plan_id}", "Block done")
    await client.post(f"/api/v1/plans/{w.plan_id}/messages/read", headers=physician)
    async with db() as s:
        assert set((await reads.plan_positions(s, w.plan_id))[f"plan:{w.plan_id}"]) == {w.id("physician")}
    await take_off_team(client, await login(w.names["lead"]), w, "physician")
    async with db() as s:
        assert await reads.plan_positions(s, w.plan_id) == {}


async def test_the_newest_page_and_load_earlier(
    app: Any, client: httpx.AsyncClient, db: Any, login: Any
) -> None:
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    posted = [(await post(client, nurse, f"/plans/{w.plan_id}", f"Note {i}")).json()["id"] for i in range(32)]
    thread, state = await thread_of(app, client, db, w, "physician")
    shown = [int(n.attrs["data-message-id"]) for n in thread.find_all("article")]
    assert shown == posted[-30:]
    earlier = thread.find(data_thread_action="earlier")
    assert earlier is not None and "hidden" not in earlier.attrs
    assert earlier.attrs["data-before"] == str(posted[2])
    assert [m["id"] for m in state["messages"]] == posted[-30:]
