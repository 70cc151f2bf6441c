"""Passwords are stored as argon2id hashes: a leaked table gives no password back."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import select

from careteam.accounts.passwords import hash_password, verify_password
from careteam.accounts.tables import User
from careteam.core.vocab import ClinicRole, Discipline
from tests.factories import make_user


def test_hash_is_argon2id_and_verifies_only_the_right_password() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse battery" not in stored
    assert verify_password("correct horse battery", stored) is True
    assert verify_password("correct horse batterY", stored) is False
    assert verify_password("", stored) is False


def test_same_password_hashes_differently_each_time() -> None:
    # A random salt per hash: equal passwords are not visible as equal hashes in the table.
    first, second = hash_password("demo"), hash_password("demo")
    assert first != second
    assert verify_password("demo", first) and verify_password("demo", second)


def test_hash_cost_meets_owasp_minimum() -> None:
    # OWASP: argon2id with at least 19 MiB of memory and 2 iterations (or more memory, fewer passes).
    params = re.search(r"\$m=(\d+),t=(\d+),p=(\d+)\$", hash_password("x"))
    assert params, "argon2 parameters missing from the hash"
    memory_kib, time_cost = int(params.group(1)), int(params.group(2))
    assert memory_kib >= 19 * 1024
    assert time_cost >= 2


def test_unknown_user_verifies_false() -> None:
    assert verify_password("anything", None) is False


async def test_account_created_through_the_api_stores_argon2id(client: Any, db: Any, login: Any) -> None:
    async with db() as s:
        await make_user(s, "root1", discipline=Discipline.ipm_lead, role=ClinicRole.admin)
    r = await client.post(
        "/api/v1/users",
        json={
            "username": "newnurse",
            "display_name": "New Nurse",
            "discipline": "nurse",
            "password": "a long passphrase",
        },
        headers=await login("root1"),
    )
    assert r.status_code == 201, r.text
    assert "password" not in r.text and "argon2" not in r.text
    async with db() as s:
        stored = (await s.exec(select(User.password_hash).where(User.username == "newnurse"))).one()
    assert stored.startswith("$argon2id$")
    assert verify_password("a long passphrase", stored)
    await login("newnurse", "a long passphrase")
