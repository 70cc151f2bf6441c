"""The OpenAPI document integrators generate clients from is compared with a committed snapshot.

``tests/web/openapi.json`` is ``/openapi.json`` pretty-printed with sorted keys. Any change to paths, schemas,
statuses or operation ids fails this test with a diff, so the contract only changes on purpose. To accept a
change deliberately, rewrite the snapshot and commit it with the change that caused it::

    CARETEAM_UPDATE_SNAPSHOTS=1 pytest tests/web/test_openapi_snapshot.py

then read ``git diff tests/web/openapi.json``: it is what client authors will see.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from careteam.app import create_app
from careteam.settings import Settings

SNAPSHOT = Path(__file__).with_name("openapi.json")


def _pretty(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


async def _served_document(tmp_path: Path) -> Any:
    # The document does not depend on the database: no lifespan, no backend parameter.
    app = create_app(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/openapi.db",
            broker_url="memory://",
            secret_key="test-secret-key-that-is-long-enough-0123456789",
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        r = await client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


async def test_openapi_document_matches_the_committed_snapshot(tmp_path: Path) -> None:
    actual = _pretty(await _served_document(tmp_path))
    if os.environ.get("CARETEAM_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(actual, encoding="utf-8")
        return
    expected = SNAPSHOT.read_text(encoding="utf-8") if SNAPSHOT.exists() else ""
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile="tests/web/openapi.json (committed)",
                tofile="/openapi.json (served now)",
            )
        )
        pytest.fail(
            "The OpenAPI document changed. If the change is intended, run\n"
            "    CARETEAM_UPDATE_SNAPSHOTS=1 pytest tests/web/test_openapi_snapshot.py\n"
            "and commit tests/web/openapi.json with it.\n\n" + diff,
            pytrace=False,
        )
