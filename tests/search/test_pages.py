"""The search page (/search): two care teams write the same word; each clinician's page lists only her own
team's, as the JSON API does, with the match marked, every part of the snippet as text, and where it is."""

from __future__ import annotations

import re
from typing import Any

from tests.messaging.world import make_task, post
from tests.plans.test_pages import cookie
from tests.search.test_routes import WORD, _search, _two_teams

HOSTILE = "<script>alert(1)</script>"


def _results(html: str) -> list[str]:
    """The results listed on the page, by key ("message-4", "task-2"), in order."""
    return re.findall(r'<li class="search-result" data-key="([a-z]+-\d+)"', html)


async def test_the_page_finds_her_teams_word_never_another_teams_as_the_api(
    app: Any, client: Any, db: Any, login: Any, backend: str
) -> None:
    w, made = await _two_teams(client, db, login)
    # A comment on the task, with markup that must stay text around the word.
    r = await post(client, made["nurse"], f"/tasks/{made['task']['id']}", f"{HOSTILE} {WORD} held tonight")
    assert r.status_code == 201, r.text
    comment = r.json()
    page = await client.get("/search", params={"q": WORD}, headers=await cookie(app, db, w.names["nurse"]))
    assert page.status_code == 200, page.text
    html = page.text
    api = await _search(client, made["nurse"], q=WORD, limit=20)
    assert _results(html) == [f"{i['kind']}-{i['id']}" for i in api["items"]]
    assert set(_results(html)) == {
        f"message-{made['message']['id']}",
        f"message-{comment['id']}",
        f"task-{made['task']['id']}",
    }
    assert f"message-{made['b_message']['id']}" not in html and "Team B" not in html
    # Kind, patient, plan title, author and time; the snippet links to its place, the word marked.
    item = re.search(rf'data-key="message-{comment["id"]}".*?</li>', html, re.S)
    assert item is not None
    row = item.group(0)
    assert ">Task comment<" in row and "Ellen Marsh · " in row
    assert f'href="/plans/{w.plan_id}#message-{comment["id"]}"' in row
    assert f"<mark>{WORD}</mark>" in row.lower()
    # Markup in the text is text (PostgreSQL's headline leaves tags out of the snippet; SQLite's keeps them).
    assert HOSTILE not in html
    if backend == "sqlite":
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in row
    assert "Test nurse" in row and "<time datetime=" in row
    task_row = re.search(rf'data-key="task-{made["task"]["id"]}".*?</li>', html, re.S)
    assert task_row is not None and ">Task<" in task_row.group(0)
    assert ">Message<" in re.search(rf'data-key="message-{made["message"]["id"]}".*?</li>', html, re.S).group(
        0
    )  # type: ignore[union-attr]

    # Team B's clinician: only her team's message, on the page as in the API.
    theirs = await client.get(
        "/search", params={"q": WORD}, headers=await cookie(app, db, w.names["outsider"])
    )
    assert _results(theirs.text) == [f"message-{made['b_message']['id']}"]
    none = await client.get(
        "/search", params={"q": "titration"}, headers=await cookie(app, db, w.names["outsider"])
    )
    assert none.status_code == 200 and _results(none.text) == [] and 'id="search-none"' in none.text


async def test_empty_too_long_and_paged(app: Any, client: Any, db: Any, login: Any) -> None:
    w, made = await _two_teams(client, db, login)
    headers = await cookie(app, db, w.names["nurse"])
    # Every signed-in page has the header's search box; an empty query says what to do.
    empty = await client.get("/search", headers=headers)
    assert empty.status_code == 200 and 'id="search-empty"' in empty.text
    assert 'role="search" aria-label="Quick search"' in (await client.get("/work", headers=headers)).text
    # Too long: the error on the form, 422, nothing searched.
    long = await client.get("/search", params={"q": "x" * 201}, headers=headers)
    assert long.status_code == 422 and "text/html" in long.headers["content-type"]
    assert 'id="search-q-error"' in long.text and 'aria-invalid="true"' in long.text
    assert _results(long.text) == []
    # Paged by 20: the first page links to the next, which links back; a silly offset is the first page.
    for n in range(22):
        await make_task(client, made["nurse"], w, title=f"Gabapentin check {n}")
    first = await client.get("/search", params={"q": WORD}, headers=headers)
    assert len(_results(first.text)) == 20 and 'rel="next"' in first.text and 'rel="prev"' not in first.text
    second = await client.get("/search", params={"q": WORD, "offset": "20"}, headers=headers)
    assert len(_results(second.text)) == 4 and 'rel="prev"' in second.text and 'rel="next"' not in second.text
    assert not set(_results(first.text)) & set(_results(second.text))
    silly = await client.get("/search", params={"q": WORD, "offset": "-4x"}, headers=headers)
    assert _results(silly.text) == _results(first.text)
