"""Passwords, session tokens and CSRF tokens: the only module that touches secrets.

Passwords are hashed with argon2id. A session is a
random 256-bit token sent in an HttpOnly, SameSite=Lax cookie; the database keeps only its
SHA-256, so logging out or expiring a session really revokes it and a copy of the table
cannot be replayed. Each session carries its own random CSRF token (synchronizer pattern):
forms post it as a hidden field and scripts send it in the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

SESSION_COOKIE = "covalue_session"
LOGIN_CSRF_COOKIE = "covalue_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_LIFETIME = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 8

#: OWASP's argon2id setting (19 MiB, 2 passes, 1 lane): strong, yet a burst of sign-ins does not
#: exhaust memory the way the 64 MiB default would.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
#: At most this many hashes at once, whatever the thread pool size: sign-in floods queue up
#: instead of starving the requests of people who are already signed in.
_hash_slots = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))
#: A hash verified against when the user does not exist, so timing does not reveal user names.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    with _hash_slots:
        return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; always does the work of one verification."""
    try:
        with _hash_slots:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_token() -> str:
    """A URL-safe random token with 256 bits of entropy."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the database stores instead of a session token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; a missing token never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
