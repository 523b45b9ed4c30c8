"""Password hashing (hashlib.scrypt, a salt per password) and random secrets (API tokens, session ids).

A stored hash names its own cost (`scrypt$N$r$p$salt$hash`), so the cost can be raised later: old hashes still
verify, and a login with a hash made at a lower cost re-hashes the password at the current one
(`needs_rehash`).

The cost is `SCRYPT_COST` unless a caller passes another `ScryptCost` explicitly (`Users(password_cost=...)`,
`ConsoleDeps(password_cost=...)`): only the test suite does, to spare half a second per hash. No config key or
environment variable lowers it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

_DKLEN = 32
MIN_PASSWORD = 8
MAX_PASSWORD = 256
TOKEN_PREFIX = "snt_"
# the most memory a *stored* hash may ask for (128·r·N bytes): a hash edited in the database to ask for more is
# refused rather than computed
MAX_HASH_MEMORY = 1024 * 1024 * 1024


@dataclass(frozen=True)
class ScryptCost:
    """scrypt's parameters: N (CPU and memory cost, a power of 2), r (block size), p (parallelism)."""

    n: int
    r: int = 8
    p: int = 1

    @property
    def memory(self) -> int:
        """Bytes scrypt works in: 128·r·(N + p + 2), which OpenSSL checks against `maxmem`."""
        return 128 * self.r * (self.n + self.p + 2)

    @property
    def maxmem(self) -> int:
        """What hashlib.scrypt is allowed (OpenSSL's default, 32 MiB, is too little above N=2^14)."""
        return 2 * self.memory

    def weaker_than(self, other: ScryptCost) -> bool:
        return self.n < other.n or self.r < other.r or self.p < other.p

    def __str__(self) -> str:
        return f"N=2^{self.n.bit_length() - 1}, r={self.r}, p={self.p}"


# 2^17 × 8 × 128 B = 128 MiB of memory and ~0.45 s per hash on a 2-core 2024 server: OWASP's recommendation
SCRYPT_COST = ScryptCost(2**17, 8, 1)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, cost: ScryptCost) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=cost.n, r=cost.r, p=cost.p, maxmem=cost.maxmem, dklen=_DKLEN
    )


def password_problem(password: str, username: str = "") -> str | None:
    """Why a password is not acceptable (the message never repeats it); None when it is."""
    if len(password) < MIN_PASSWORD:
        return f"the password must have at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"the password must have at most {MAX_PASSWORD} characters"
    if username and password.casefold() == username.casefold():
        return "the password must not be the user name"
    return None


def hash_password(password: str, cost: ScryptCost = SCRYPT_COST) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, cost)
    return f"scrypt${cost.n}${cost.r}${cost.p}${_b64(salt)}${_b64(digest)}"


@dataclass(frozen=True)
class StoredHash:
    cost: ScryptCost
    salt: bytes
    digest: bytes


def parse_hash(stored: str) -> StoredHash | None:
    """The parts of a stored hash; None when it is malformed or asks for more than MAX_HASH_MEMORY."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, digest = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return None
    cost = ScryptCost(n, r, p)
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or cost.memory > MAX_HASH_MEMORY or not digest:
        return None
    return StoredHash(cost, salt, digest)


def verify_password(password: str, stored: str) -> bool:
    """Constant-time comparison of the scrypt digests, at the cost the hash names; False for a malformed one."""
    parsed = parse_hash(stored)
    if parsed is None:
        return False
    try:
        actual = _scrypt(password, parsed.salt, parsed.cost)
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(actual, parsed.digest)


def needs_rehash(stored: str, cost: ScryptCost = SCRYPT_COST) -> bool:
    """Whether the stored hash is weaker than `cost` in any parameter (or unreadable)."""
    parsed = parse_hash(stored)
    return parsed is None or parsed.cost.weaker_than(cost)


@functools.lru_cache(maxsize=4)
def _dummy(cost: ScryptCost) -> str:
    """A hash of nothing anyone knows, made on first use (not at import: it takes as long as a login)."""
    return hash_password(secrets.token_urlsafe(16), cost)


def burn_time(password: str, cost: ScryptCost = SCRYPT_COST) -> None:
    """A login for an unknown user checks against a dummy hash of the same cost, so that it takes as long as
    one for a known user (the response time does not tell which user names exist)."""
    verify_password(password, _dummy(cost))


def new_secret(prefix: str = "") -> tuple[str, str]:
    """A fresh random secret (256 bits) and the SHA-256 hex digest under which it is stored."""
    value = prefix + secrets.token_urlsafe(32)
    return value, secret_digest(value)


def secret_digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
