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
