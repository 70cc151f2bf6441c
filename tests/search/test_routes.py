"""GET /api/v1/search: two care teams write the same word; each finds only her own team's, highlighted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.messaging.world import World, audit_rows, make_task, make_world, post

WORD = "gabapentin"


async def _two_teams(client: Any, db: Any, login: Any) -> tuple[World, dict[str, Any]]:
    """Team A (Ellen's: the nurse) and team B (the outsider's): both write the word in a thread and a task."""
    w = await make_world(db)
    nurse, outsider = await login(w.names["nurse"]), await login(w.names["outsider"])
    made: dict[str, Any] = {"nurse": nurse, "outsider": outsider}
    r = await post(client, nurse, f"/plans/{w.plan_id}", f"Started **{WORD}** titration, 100 mg at night")
    assert r.status_code == 201, r.text
    made["message"] = r.json()
    made["task"] = await make_task(
        client, nurse, w, title="Review gabapentin dose", description="Dizziness on the morning walk"
    )
    r = await post(client, outsider, f"/plans/{w.other_plan_id}", f"Team B stops {WORD} today")
    assert r.status_code == 201, r.text
    made["b_message"] = r.json()
    return w, made


async def _search(client: Any, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = await client.get("/api/v1/search", params=params, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _highlighted(item: dict[str, Any]) -> list[str]:
    return [p["text"].lower() for p in item["snippet"] if p["highlighted"]]


async def test_a_clinician_finds_her_teams_thread_and_task_never_another_teams(
    client: Any, db: Any, login: Any
) -> None:
    w, made = await _two_teams(client, db, login)

    found = await _search(client, made["nurse"], q=WORD)

    by_kind = {(i["kind"], i["id"]) for i in found["items"]}
    assert by_kind == {("message", made["message"]["id"]), ("task", made["task"]["id"])}
    assert found["next_offset"] is None
    message = next(i for i in found["items"] if i["kind"] == "message")
    assert message["plan_id"] == w.plan_id and message["task_id"] is None
    assert message["patient"] == {"id": w.patient_id, "name": "Ellen Marsh"}
    assert message["link"] == f"/plans/{w.plan_id}#message-{made['message']['id']}"
    assert _highlighted(message) == [WORD]
    text = "".join(p["text"] for p in message["snippet"])
    assert "titration" in text and "<mark>" not in text
    task = next(i for i in found["items"] if i["kind"] == "task")
    assert task["task_id"] == made["task"]["id"]
    assert task["link"] == f"/plans/{w.plan_id}#task-{made['task']['id']}"
    assert _highlighted(task) == [WORD]

    # Team B's clinician finds only team B's message; team A's are not there (and it is not an error).
    theirs = await _search(client, made["outsider"], q=WORD)
    assert [(i["kind"], i["id"]) for i in theirs["items"]] == [("message", made["b_message"]["id"])]
    assert (await _search(client, made["outsider"], q="titration"))["items"] == []


async def test_every_word_must_match_and_kind_narrows(client: Any, db: Any, login: Any) -> None:
    _, made = await _two_teams(client, db, login)
    nurse = made["nurse"]

    assert [i["kind"] for i in (await _search(client, nurse, q="gabapentin dizziness"))["items"]] == ["task"]
    assert (await _search(client, nurse, q="gabapentin nonexistentword"))["items"] == []
    assert [i["kind"] for i in (await _search(client, nurse, q=WORD, kind="message"))["items"]] == ["message"]
    assert [i["kind"] for i in (await _search(client, nurse, q=WORD, kind="task"))["items"]] == ["task"]
    # Upper case and stems match: "Titrations" finds "titration".
    assert len((await _search(client, nurse, q="Titrations"))["items"]) == 1


async def test_pages_follow_relevance(client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    nurse = await login(w.names["nurse"])
    weak = (await post(client, nurse, f"/plans/{w.plan_id}", "opioid taper plan discussed at length")).json()
    strong = (await post(client, nurse, f"/plans/{w.plan_id}", "opioid opioid opioid")).json()

    first = await _search(client, nurse, q="opioid", limit=1)
    assert [i["id"] for i in first["items"]] == [strong["id"]]
    assert first["next_offset"] == 1
    second = await _search(client, nurse, q="opioid", limit=1, offset=1)
    assert [i["id"] for i in second["items"]] == [weak["id"]]
    assert second["next_offset"] is None


async def test_edited_and_removed_messages_and_edited_tasks(client: Any, db: Any, login: Any) -> None:
    w, made = await _two_teams(client, db, login)
    nurse, lead = made["nurse"], await login(w.names["lead"])
    message_id = made["message"]["id"]

    r = await client.patch(
        f"/api/v1/messages/{message_id}",
        json={"body": "Started pregabalin instead"},
        headers={**nurse, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    assert [i["kind"] for i in (await _search(client, nurse, q=WORD))["items"]] == ["task"]
    assert [i["id"] for i in (await _search(client, nurse, q="pregabalin"))["items"]] == [message_id]

    r = await client.delete(f"/api/v1/messages/{message_id}", headers={**lead, "If-Match": 'W/"2"'})
    assert r.status_code == 200, r.text
    assert (await _search(client, nurse, q="pregabalin"))["items"] == []

    task = made["task"]
    r = await client.patch(
        f"/api/v1/tasks/{task['id']}",
        json={"title": "Review duloxetine dose"},
        headers={**nurse, "If-Match": f'W/"{task["version"]}"'},
    )
    assert r.status_code == 200, r.text
    assert (await _search(client, nurse, q=WORD))["items"] == []
    assert [i["id"] for i in (await _search(client, nurse, q="duloxetine"))["items"]] == [task["id"]]


async def test_one_audited_read_per_patient_shown(client: Any, db: Any, login: Any) -> None:
    w, made = await _two_teams(client, db, login)
    before = len(await audit_rows(db, action="read", resource_type="patient"))

    await _search(client, made["nurse"], q=WORD)
    await _search(client, made["nurse"], q="nothingmatchesthis")

    rows = (await audit_rows(db, action="read", resource_type="patient"))[before:]
    assert [(r.user_id, r.patient_id) for r in rows] == [(w.id("nurse"), w.patient_id)]


@pytest.mark.parametrize(
    "q",
    [
        '"',
        '"gabapentin',
        "*",
        "gaba*",
        "NEAR(",
        "NEAR(gabapentin titration)",
        "-",
        "-gabapentin",
        "OR",
        "gabapentin OR",
        "AND NOT",
        "title:gabapentin",
        "^gabapentin",
        "(",
        ")",
        "'",
        "\\",
        "%_",
        "gabapentin & !titration | <->",
        "ünïcödé 痛み 🩺",
        "a" * 200,
        "x\x01y",
        "nul\x00byte",
    ],
)
async def test_hostile_queries_never_fail(q: str, client: Any, db: Any, login: Any) -> None:
    _, made = await _two_teams(client, db, login)
    r = await client.get("/api/v1/search", params={"q": q}, headers=made["nurse"])
    assert r.status_code == 200, r.text
    for item in r.json()["items"]:
        assert item["patient"]["name"] == "Ellen Marsh"


async def test_hostile_query_still_finds_its_words(client: Any, db: Any, login: Any) -> None:
    _, made = await _two_teams(client, db, login)
    found = await _search(client, made["nurse"], q='"gabapentin" -titration* ( )')
    assert [(i["kind"], i["id"]) for i in found["items"]] == [("message", made["message"]["id"])]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "query.q"),
        ({"q": ""}, "query.q"),
        ({"q": "a" * 201}, "query.q"),
        ({"q": "x", "kind": "plan"}, "query.kind"),
        ({"q": "x", "offset": -1}, "query.offset"),
        ({"q": "x", "limit": 0}, "query.limit"),
    ],
)
async def test_invalid_queries_are_422_naming_the_field(
    params: dict[str, Any], field: str, client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    r = await client.get("/api/v1/search", params=params, headers=await login(w.names["nurse"]))
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]


async def test_anonymous_is_401(client: Any) -> None:
    assert (await client.get("/api/v1/search", params={"q": "x"})).status_code == 401


async def test_a_task_comment_links_to_its_tasks_card(client: Any, db: Any, login: Any) -> None:
    """A comment is not in the team thread: its result opens the task's card, where the comment is."""
    w, made = await _two_teams(client, db, login)
    task_id = made["task"]["id"]
    r = await post(client, made["nurse"], f"/tasks/{task_id}", f"Comment on the {WORD} plan")
    assert r.status_code == 201, r.text

    found = await _search(client, made["nurse"], q=f"comment {WORD}")

    assert [(i["kind"], i["task_id"], i["link"]) for i in found["items"]] == [
        ("message", task_id, f"/plans/{w.plan_id}#task-{task_id}")
    ]
