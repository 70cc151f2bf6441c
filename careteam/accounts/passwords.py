"""Password hashing with argon2id (pwdlib's defaults follow the OWASP recommendation), and the strength
rule for newly chosen passwords (zxcvbn)."""

from __future__ import annotations

from collections.abc import Iterable

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from zxcvbn import zxcvbn

_hasher = PasswordHash((Argon2Hasher(),))
# Verified against when the username is unknown, so both answers take the same time.
_DUMMY_HASH = _hasher.hash("careteam-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """True when it matches; an unknown user (``None``) costs the same time and is False."""
    if password_hash is None:
        _hasher.verify(password, _DUMMY_HASH)
        return False
    return _hasher.verify(password, password_hash)


# zxcvbn's scores run 0-4; 2 and above resist an online attack that sign-in throttling already slows
# (fewer than 10^8 guesses), 0 and 1 are common, breached or trivially patterned passwords.
MIN_SCORE = 2
# zxcvbn's own bound: its matching grows fast with length, and 72 characters are plenty to judge by.
_ESTIMATED_CHARACTERS = 72


def weak_password_reason(password: str, *, context: Iterable[str] = ()) -> str | None:
    """Why a newly chosen password is too easy to guess, or None when it is fine (NIST SP 800-63B: check
    against common and breached passwords, no composition rules). ``context`` holds words an attacker knows
    about the account (username, display name): a password built from them is refused too."""
    words = [w for value in context for w in {value, *value.replace(".", " ").replace("_", " ").split()} if w]
    result = zxcvbn(password[:_ESTIMATED_CHARACTERS], user_inputs=words)
    if result["score"] >= MIN_SCORE:
        return None
    feedback = result["feedback"]
    warning = feedback["warning"] or "This password is too easy to guess."
    hint = " ".join(feedback["suggestions"]) or "Add another word or two; uncommon words are better."
    return f"{warning.rstrip('.')}: choose another. {hint}"
