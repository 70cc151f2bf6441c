"""The inbox page and the header's badge: what a signed-in clinician sees; forms need the CSRF token."""

from __future__ import annotations

import re
from typing import Any

from careteam.accounts import sessions as auth_sessions
from careteam.core.actor import actor_of
from careteam.notifications import service as notifications
from careteam.notifications.codes import NotificationKind
from tests.factories import PASSWORD, make_user

HOSTILE = "<script>alert(1)</script>"


async def _signed_in(app: Any, db: Any) -> tuple[dict[str, str], str, int]:
    """A nurse with two unread notifications (one with a hostile title); her cookie header and CSRF token."""
    async with db() as s:
        lead = await make_user(s)
        nurse = await make_user(s)
        for title in ("Assigned to you: UDS due — Ellen Marsh", HOSTILE):
            await notifications.notify(
                s,
                [nurse.id or 0],
                NotificationKind.task_assigned,
                title=title,
                link="/plans/4#task-17",
                actor=actor_of(lead),
            )
        issued = await auth_sessions.login(
            s, nurse.username, PASSWORD, kind="cookie", settings=app.state.settings
        )
    assert issued is not None
    cookie = {"Cookie": f"{app.state.settings.session_cookie_name}={issued.secret}"}
    return cookie, issued.record.csrf_token, nurse.id or 0


def _badge(html: str) -> str:
    match = re.search(r'id="unread-badge"[^>]*><span class="nav-badge__count">(\d+)</span>', html)
    assert match, "no unread badge in the header"
    return match[1]


async def test_the_page_lists_them_unread_first_class_and_the_header_counts_them(
    app: Any, client: Any, db: Any
) -> None:
    cookie, _, nurse_id = await _signed_in(app, db)
    r = await client.get("/notifications", headers=cookie)
    assert r.status_code == 200, r.text
    html = r.text
    assert _badge(html) == "2"
    assert f'data-user-id="{nurse_id}"' in html and "/static/js/inbox.js" in html
    assert '<a href="/work">My work' in html and 'id="work-badge"' in html
    assert html.count('class="inbox__item is-unread" id="notification-') == 2
    assert (
        '<a class="inbox__title" href="/plans/4#task-17">Assigned to you: UDS due — Ellen Marsh</a>' in html
    )
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'aria-current="page">Notifications' in html
    # Every other signed-in page has the badge too.
    assert _badge((await client.get("/patients", headers=cookie)).text) == "2"


async def test_mark_all_read_with_the_csrf_token(app: Any, client: Any, db: Any) -> None:
    cookie, csrf, _ = await _signed_in(app, db)
    r = await client.post("/notifications/read", data={"all": "1", "csrf_token": csrf}, headers=cookie)
    assert (r.status_code, r.headers["location"]) == (303, "/notifications")
    html = (await client.get("/notifications", headers=cookie)).text
    assert _badge(html) == "0" and 'is-unread" id="notification-' not in html and "Nothing unread" in html


async def test_mark_one_read(app: Any, client: Any, db: Any) -> None:
    cookie, csrf, _ = await _signed_in(app, db)
    html = (await client.get("/notifications", headers=cookie)).text
    newest = re.search(r'id="notification-(\d+)"', html)
    assert newest
    r = await client.post(
        "/notifications/read", data={"id": newest[1], "page": "1", "csrf_token": csrf}, headers=cookie
    )
    assert r.status_code == 303
    html = (await client.get("/notifications", headers=cookie)).text
    assert _badge(html) == "1" and html.count('class="inbox__item is-unread" id="notification-') == 1
    assert f'<li class="inbox__item" id="notification-{newest[1]}">' in html


async def test_without_the_csrf_token_nothing_is_marked(app: Any, client: Any, db: Any) -> None:
    cookie, _, _ = await _signed_in(app, db)
    for form in ({"all": "1"}, {"all": "1", "csrf_token": "forged"}):
        r = await client.post("/notifications/read", data=form, headers=cookie)
        assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert _badge((await client.get("/notifications", headers=cookie)).text) == "2"


async def test_signed_out_the_page_asks_to_sign_in(client: Any) -> None:
    r = await client.get("/notifications")
    assert (r.status_code, r.headers["location"]) == (303, "/login?next=/notifications")
