"""Login throttling: failed logins counted per (address, account), per address and per account, kept in the
database so every console over it (two app instances, the nodes of a cluster) counts the same failures.

Over a limit, logins from there (or for that account) wait: HTTP 429 with Retry-After. The address is the one
`console/forwarded.py` settled on, so rotating X-Forwarded-For helps nobody who is not a trusted proxy; and the
per-account count stops guessing one password from many addresses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from sentinel.console.models import LoginFailureRow

KEY_LENGTH = 200


class FailureStore(Protocol):
    def since(self, keys: Iterable[str], cutoff: float) -> dict[str, list[float]]:
        """The failure times (seconds since the epoch, ascending) after `cutoff`, per key."""
        ...

    def add(self, keys: Iterable[str], at: float, forget_before: float) -> None:
        """One failure at `at` under each key; failures before `forget_before` may be dropped."""
        ...

    def clear(self, key: str) -> None: ...


class MemoryFailures:
    """One process's own count (tests; a console without a database of its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: dict[str, list[float]] = {}

    def since(self, keys: Iterable[str], cutoff: float) -> dict[str, list[float]]:
        with self._lock:
            return {k: [t for t in self._times.get(k, ()) if t > cutoff] for k in keys}

    def add(self, keys: Iterable[str], at: float, forget_before: float) -> None:
        with self._lock:
            for key in keys:
                self._times.setdefault(key, []).append(at)
            for key in list(self._times):
                self._times[key] = [t for t in self._times[key] if t > forget_before]
                if not self._times[key]:
                    del self._times[key]

    def clear(self, key: str) -> None:
        with self._lock:
            self._times.pop(key, None)


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class DatabaseFailures:
    """A row per failure in `login_failures`, dropped once older than the window."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._session = sessions

    def since(self, keys: Iterable[str], cutoff: float) -> dict[str, list[float]]:
        wanted = list(keys)
        out: dict[str, list[float]] = {k: [] for k in wanted}
        with self._session() as s:
            rows = s.execute(
                select(LoginFailureRow.key, LoginFailureRow.at)
                .where(LoginFailureRow.key.in_(wanted), LoginFailureRow.at > _when(cutoff))
                .order_by(LoginFailureRow.at)
            )
            for key, at in rows:
                out[key].append(at.timestamp())
        return out

    def add(self, keys: Iterable[str], at: float, forget_before: float) -> None:
        with self._session.begin() as s:
            s.execute(delete(LoginFailureRow).where(LoginFailureRow.at <= _when(forget_before)))
            s.add_all(LoginFailureRow(key=key, at=_when(at)) for key in keys)

    def clear(self, key: str) -> None:
        with self._session.begin() as s:
            s.execute(delete(LoginFailureRow).where(LoginFailureRow.key == key))


class LoginLimiter:
    """At most `max_failures` failed logins per (address, user name) within `window` seconds, and 4x that per
    address (guessing across user names) and per user name (guessing one account from many addresses)."""

    def __init__(
        self, max_failures: int = 5, window: float = 300.0, clock: Callable[[], float] = time.time,
        store: FailureStore | None = None,
    ) -> None:  # fmt: skip
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self.store: FailureStore = store if store is not None else MemoryFailures()

    def _limits(self, ip: str, username: str) -> dict[str, int]:
        user = username.casefold()
        return {
            f"ip-user:{ip} {user}"[:KEY_LENGTH]: self.max_failures,
            f"ip:{ip}"[:KEY_LENGTH]: 4 * self.max_failures,
            f"user:{user}"[:KEY_LENGTH]: 4 * self.max_failures,
        }

    def retry_after(self, ip: str, username: str) -> float | None:
        """Seconds to wait before another try is allowed, or None."""
        now = self._clock()
        limits = self._limits(ip, username)
        waits = []
        for key, times in self.store.since(limits, now - self.window).items():
            limit = limits[key]
            if len(times) >= limit:
                waits.append(times[len(times) - limit] + self.window - now)
        return max(waits) if waits else None

    def failed(self, ip: str, username: str) -> None:
        now = self._clock()
        self.store.add(self._limits(ip, username), now, now - self.window)

    def succeeded(self, ip: str, username: str) -> None:
        """The (address, user name) count starts again; the address's and the account's counts stay."""
        self.store.clear(next(iter(self._limits(ip, username))))
