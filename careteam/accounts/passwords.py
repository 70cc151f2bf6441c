"""Password hashing with argon2id (pwdlib's defaults follow the OWASP recommendation)."""

from __future__ import annotations

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

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
