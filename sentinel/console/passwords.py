"""Password hashing (hashlib.scrypt, a salt per password) and random secrets (API tokens, session ids).

A stored hash names its own cost (`scrypt$N$r$p$salt$hash`), so the cost can be raised later: a login with a
hash made at a lower cost re-hashes the password at the current one (`needs_rehash`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# 2^15 × 8 × 128 B = 32 MiB of memory and ~0.1 s per hash: twice Django's default for scrypt
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
_DKLEN = 32
_MAXMEM = 256 * 1024 * 1024
MIN_PASSWORD = 8
MAX_PASSWORD = 256
TOKEN_PREFIX = "snt_"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=_DKLEN)


def password_problem(password: str, username: str = "") -> str | None:
    """Why a password is not acceptable (the message never repeats it); None when it is."""
    if len(password) < MIN_PASSWORD:
        return f"the password must have at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"the password must have at most {MAX_PASSWORD} characters"
    if username and password.casefold() == username.casefold():
        return "the password must not be the user name"
    return None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time comparison of the scrypt digests; False for any malformed hash."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str) -> bool:
    parts = stored.split("$")
    return len(parts) != 6 or parts[1:4] != [str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P)]


# A hash of nothing anyone knows: a login for an unknown user checks against it, so that it takes as long as
# one for a known user (the response time does not tell which user names exist).
_DUMMY = hash_password(secrets.token_urlsafe(16))


def burn_time(password: str) -> None:
    verify_password(password, _DUMMY)


def new_secret(prefix: str = "") -> tuple[str, str]:
    """A fresh random secret (256 bits) and the SHA-256 hex digest under which it is stored."""
    value = prefix + secrets.token_urlsafe(32)
    return value, secret_digest(value)


def secret_digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
