"""The outcomes page and the board header's sparklines, server-side: the drawings name themselves, a score
entered in error leaves the line and stays in the table, a refused form names its field and stores nothing,
and the parts outcomes.js fetches are the care team's only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from careteam.outcomes import charts
from careteam.outcomes.codes import Measure
from tests.plans.test_pages import cookie
from tests.referrals.test_pages import csrf
from tests.referrals.world import count_events, make_world


def test_a_chart_names_what_it_shows() -> None:
    day0 = datetime(2026, 10, 1, 10, tzinfo=UTC)
    points = [charts.Point(day0 + timedelta(days=14 * n), v) for n, v in enumerate((8, 7, 5))]
    said = charts.summary(Measure.nrs, points)
    assert said == (
        "Pain intensity (NRS 0-10): 3 scores from 1 Oct 2026 to 29 Oct 2026; first 8, latest 5 (moderate); "
        "lowest 5, highest 8"
    )
    svg = charts.chart(Measure.nrs, points, ident="c1")
    assert 'role="img" aria-labelledby="c1-title c1-desc"' in svg
    assert f'<desc id="c1-desc">{said}</desc>' in svg
    assert svg.count('<circle class="trend__dot"') == 3 and "NRS 5 (moderate) on 29 Oct 2026" in svg
    assert charts.summary(Measure.odi, points[:1]) == (
        "Disability (Oswestry index 0-100%): one score, latest 8% (minimal disability), on 1 Oct 2026"
    )
    assert (
        charts.summary(Measure.peg, [])
        == "PEG-3 (pain, enjoyment, general activity; mean 0-10): no scores yet"
    )
    spark = charts.sparkline(Measure.nrs, points)
    assert spark.startswith('<svg class="spark" role="img" aria-label="Pain intensity (NRS 0-10): 3 scores')
    assert "<polyline" in spark and spark.count("<circle") == 1


async def test_the_page_draws_final_scores_and_lists_every_one(
    app: Any, client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    api = await login(w.names["nurse"])
    for value in (8, 6):
        r = await client.post(
            f"/api/v1/plans/{w.plan_id}/measures", json={"measure": "nrs", "value": value}, headers=api
        )
        assert r.status_code == 201, r.text
    first = (await client.get(f"/api/v1/plans/{w.plan_id}/measures", headers=api)).json()["items"][0]
    r = await client.post(
        f"/api/v1/measures/{first['id']}/entered-in-error",
        json={"reason": "Wrong patient"},
        headers={**api, "If-Match": 'W/"1"'},
    )
    assert r.status_code == 200, r.text
    page = await client.get(f"/plans/{w.plan_id}/outcomes", headers=await cookie(app, db, w.names["nurse"]))
    assert page.status_code == 200
    html = page.text
    assert "Pain intensity (NRS 0-10): one score, latest 6 (moderate)" in html
    assert html.count('<circle class="trend__dot"') == 1
    assert "<s>8</s>" in html and "Entered in error</span> Wrong patient" in html
    assert 'id="measure-peg"' not in html

    board = await client.get(f"/plans/{w.plan_id}", headers=await cookie(app, db, w.names["physician"]))
    assert 'id="outcome-sparks"' in board.text and 'data-measure="nrs"' in board.text
    part = await client.get(
        f"/plans/{w.plan_id}/outcomes/sparklines", headers=await cookie(app, db, w.names["physician"])
    )
    assert part.status_code == 200 and "<html" not in part.text and 'data-measure="nrs"' in part.text
    charts_part = await client.get(
        f"/plans/{w.plan_id}/outcomes/charts", headers=await cookie(app, db, w.names["physician"])
    )
    assert charts_part.status_code == 200 and 'id="measure-nrs"' in charts_part.text


async def test_a_refused_form_names_its_field_and_stores_nothing(app: Any, client: Any, db: Any) -> None:
    w = await make_world(db)
    headers = await cookie(app, db, w.names["nurse"])
    token = csrf((await client.get(f"/plans/{w.plan_id}/outcomes", headers=headers)).text)
    cases = [
        ({"measure": "nrs", "value": "11"}, "record-value-error"),
        ({"measure": "nrs", "value": "six"}, "record-value-error"),
        ({"measure": "peg", "peg1": "7", "peg2": "6"}, "record-items-error"),
        ({"measure": "phq9", "value": "12", "effective_at": "2999-01-01T10:00"}, "record-effective_at-error"),
        ({"measure": "", "value": "5"}, "record-measure-error"),
    ]
    for form, error_id in cases:
        r = await client.post(
            f"/plans/{w.plan_id}/outcomes", data={**form, "csrf_token": token}, headers=headers
        )
        assert r.status_code == 422, (form, r.text[:300])
        assert f'id="{error_id}"' in r.text, form
    assert await count_events(db, w.plan_id) == 0
    r = await client.post(
        f"/plans/{w.plan_id}/outcomes",
        data={"measure": "peg", "peg1": "7", "peg2": "6", "peg3": "6", "csrf_token": token},
        headers=headers,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/plans/{w.plan_id}/outcomes#measure-peg"
    page = (await client.get(f"/plans/{w.plan_id}/outcomes", headers=headers)).text
    assert "7 + 6 + 6" in page and "6.33" in page


async def test_withdrawing_without_a_reason_asks_for_one(app: Any, client: Any, db: Any, login: Any) -> None:
    w = await make_world(db)
    r = await client.post(
        f"/api/v1/plans/{w.plan_id}/measures",
        json={"measure": "gad7", "value": 9},
        headers=await login(w.names["nurse"]),
    )
    score = r.json()
    headers = await cookie(app, db, w.names["lead"])
    token = csrf((await client.get(f"/plans/{w.plan_id}/outcomes", headers=headers)).text)
    form = {"plan_id": str(w.plan_id), "version": "1", "csrf_token": token}
    r = await client.post(f"/measures/{score['id']}/withdraw", data={**form, "reason": " "}, headers=headers)
    assert r.status_code == 422 and f'id="withdraw-{score["id"]}-reason-error"' in r.text
    assert await count_events(db, w.plan_id) == 1
    r = await client.post(
        f"/measures/{score['id']}/withdraw", data={**form, "reason": "Typo"}, headers=headers
    )
    assert r.status_code == 303 and r.headers["location"] == f"/plans/{w.plan_id}/outcomes#measure-gad7"
    assert await count_events(db, w.plan_id) == 2


def test_a_chart_draws_its_goals_targets_and_procedures() -> None:
    day0 = datetime(2026, 10, 1, 10, tzinfo=UTC)
    points = [charts.Point(day0 + timedelta(days=14 * n), v) for n, v in enumerate((7, 6, 5))]
    targets = [charts.TargetLine(4, "Goal “PEG 4 or less”: PEG ≤ 4 by 15 Feb 2027")]
    marks = [charts.Mark(day0 + timedelta(days=40), "Medial branch block: 80% relief over 6 h, positive")]
    svg = charts.chart(Measure.peg, points, ident="c2", targets=targets, marks=marks)
    assert svg.count('<line class="trend__target"') == 1 and svg.count('<g class="trend__procedure">') == 1
    assert "Goal “PEG 4 or less”: PEG ≤ 4 by 15 Feb 2027</title>" in svg
    assert "Procedure on 10 Nov 2026: Medial branch block: 80% relief over 6 h, positive" in svg
    # The description (the accessible name's second half) says all of it; the axis reaches the procedure.
    desc = svg.split('<desc id="c2-desc">')[1].split("</desc>")[0]
    assert "Goal “PEG 4 or less”" in desc and "Procedure on 10 Nov 2026" in desc
    assert ">10 Nov 2026</text>" in svg


async def _goal_and_block(client: Any, w: Any, login: Any) -> tuple[int, int]:
    lead, nurse = await login(w.names["lead"]), await login(w.names["nurse"])
    goal = await client.post(
        f"/api/v1/plans/{w.plan_id}/goals",
        json={
            "description": "PEG 4 or less",
            "measure_target": {"measure": "peg", "comparator": "<=", "value": 4},
        },
        headers=lead,
    )
    task = await client.post(
        f"/api/v1/plans/{w.plan_id}/tasks",
        json={"title": "Medial branch block L4-L5 (diagnostic)", "discipline": "physician"},
        headers=lead,
    )
    for items in ([7, 7, 7], [6, 6, 5]):
        r = await client.post(
            f"/api/v1/plans/{w.plan_id}/measures", json={"measure": "peg", "items": items}, headers=nurse
        )
        assert r.status_code == 201
    return int(goal.json()["id"]), int(task.json()["id"])


async def test_the_board_shows_each_goals_achievement_and_the_blocks_responses(
    app: Any, client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    goal_id, task_id = await _goal_and_block(client, w, login)
    r = await client.post(
        f"/api/v1/tasks/{task_id}/responses",
        json={"relief_percent": 85, "duration_hours": 6},
        headers=await login(w.names["physician"]),
    )
    assert r.status_code == 201
    headers = await cookie(app, db, w.names["nurse"])
    board = (await client.get(f"/plans/{w.plan_id}", headers=headers)).text
    slot = board.split(f'id="goal-{goal_id}"')[1].split('data-slot="goal-extra">')[1].split("</li>")[0]
    assert 'data-achievement="improving"' in slot and "latest PEG 5.67" in slot
    assert "PEG ≤ 4</span>" in board  # the target, as plans words it
    assert f'"task_id": {task_id}' in board and '"result": "positive"' in board  # outcomes.js's responses
    part = await client.get(f"/plans/{w.plan_id}/outcomes/goals", headers=headers)
    assert part.status_code == 200 and "<html" not in part.text
    assert f'<span data-goal-id="{goal_id}"><span class="goal-progress goal-progress--improving"' in part.text

    page = (await client.get(f"/plans/{w.plan_id}/outcomes", headers=headers)).text
    assert 'id="goals"' in page and "PEG 4 or less" in page and 'data-achievement="improving"' in page
    assert '<line class="trend__target"' in page and '<g class="trend__procedure">' in page
    assert 'id="procedures"' in page and "85%" in page and "Positive</span> (threshold 80%)" in page


async def test_the_response_form_records_or_names_its_field(
    app: Any, client: Any, db: Any, login: Any
) -> None:
    w = await make_world(db)
    _, task_id = await _goal_and_block(client, w, login)
    headers = await cookie(app, db, w.names["physician"])
    page = (await client.get(f"/plans/{w.plan_id}/outcomes", headers=headers)).text
    assert f'<option value="{task_id}"' in page
    token = csrf(page)
    before = await count_events(db, w.plan_id)
    url = f"/plans/{w.plan_id}/outcomes/responses"
    cases = [
        (
            {"task_id": str(task_id), "relief_percent": "120", "duration_hours": "6"},
            "response-relief_percent-error",
        ),
        (
            {"task_id": str(task_id), "relief_percent": "80", "duration_hours": "0"},
            "response-duration_hours-error",
        ),
        ({"task_id": "", "relief_percent": "80", "duration_hours": "6"}, "response-task_id-error"),
        ({"task_id": "99999999999", "relief_percent": "80", "duration_hours": "6"}, "response-task_id-error"),
        (
            {
                "task_id": str(task_id),
                "relief_percent": "80",
                "duration_hours": "6",
                "observed_at": "2999-01-01T10:00",
            },
            "response-observed_at-error",
        ),
    ]
    for form, error_id in cases:
        r = await client.post(url, data={**form, "csrf_token": token}, headers=headers)
        assert r.status_code == 422, (form, r.text[:300])
        assert f'id="{error_id}"' in r.text, form
    assert await count_events(db, w.plan_id) == before
    ok = {"task_id": str(task_id), "relief_percent": "60", "duration_hours": "6", "csrf_token": token}
    r = await client.post(url, data=ok, headers=headers)
    assert r.status_code == 303 and r.headers["location"] == f"/plans/{w.plan_id}/outcomes#procedures"
    page = (await client.get(f"/plans/{w.plan_id}/outcomes", headers=headers)).text
    assert "Negative</span> (threshold 80%)" in page

    # Withdrawn from the page: a reason first, then kept and marked.
    [made] = (
        await client.get(f"/api/v1/tasks/{task_id}/responses", headers=await login(w.names["nurse"]))
    ).json()["items"]
    form = {"plan_id": str(w.plan_id), "version": "1", "csrf_token": token}
    r = await client.post(f"/responses/{made['id']}/withdraw", data={**form, "reason": " "}, headers=headers)
    assert r.status_code == 422 and f'id="withdraw-response-{made["id"]}-reason-error"' in r.text
    r = await client.post(
        f"/responses/{made['id']}/withdraw", data={**form, "reason": "Wrong block"}, headers=headers
    )
    assert r.status_code == 303 and r.headers["location"] == f"/plans/{w.plan_id}/outcomes#procedures"
    row = (await client.get(f"/plans/{w.plan_id}/outcomes", headers=headers)).text.split(
        f'id="response-{made["id"]}"'
    )[1]
    assert "Entered in error</span> Wrong block" in row.split("</tr>")[0]
