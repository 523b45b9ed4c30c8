"""The webhook sender: a thread that posts due `webhook_deliveries` rows, oldest first, with httpx.

    2xx                          delivered
    408, 429, 5xx, no answer,    retried after an exponential backoff with jitter (`Backoff`), at most
    refused, other network error   `max_attempts` times in all; 429/503 `Retry-After` is honoured up to retry_max
    anything else (4xx, 3xx)     given up at once: the receiver refuses it, a repeat would too (logged once)

Each row is claimed before it is posted (its `next_attempt_at` moved past the attempt's timeout, by a
conditional UPDATE), so two senders -- threads or nodes of a cluster -- never post it at the same time; a
sender killed mid-post leaves it due again once that lease ends. The `Idempotency-Key` header is the row's
`key`, the same on every attempt, so a receiver drops a repeat it already has. While the receiver cannot be
reached at all (refused, no answer) the whole queue waits for the failed row's retry: order is kept and a
down receiver is not hammered with every row.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from sentinel import __version__
from sentinel.cases.webhook.rows import WebhookDeliveryRow as Row
from sentinel.config.webhook import WebhookConfig
from sentinel.ingest.backoff import Backoff

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Sentinel-Signature"
RETRY_STATUSES = frozenset({408, 429})
Outcome = Callable[[str], None]  # "delivered" / "retry" / "gave_up", for metrics


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class _Claimed:
    id: int
    key: str
    case_id: str
    change: str
    body: bytes
    attempts: int  # including this one


@dataclass(frozen=True)
class _Result:
    delivered: bool = False
    permanent: bool = False
    unreachable: bool = False  # nothing answered: hold the whole queue
    error: str | None = None
    retry_after: float | None = None


class WebhookSender:
    def __init__(
        self, sessions: sessionmaker[Session], config: WebhookConfig, *,
        clock: Callable[[], datetime] | None = None, rng: random.Random | None = None,
        on_outcome: Outcome | None = None, poll: float = 1.0, batch: int = 50,
    ) -> None:  # fmt: skip
        self.sessions = sessions
        self.config = config
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rng = rng or random.Random()
        self._on_outcome = on_outcome
        self.poll = poll
        self.batch = batch
        self.last_error: str | None = None  # the receiver's current trouble (None: fine)
        self._hold_until: datetime | None = None
        # httpx logs every request's full URL at INFO, and a gateway's token often rides in its query
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").level))
        self._client = httpx.Client(timeout=config.timeout, follow_redirects=False, trust_env=False)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="webhook-sender", daemon=True)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        log.info("webhook: case changes (%s) go to %s", ", ".join(self.config.events), self.config.safe_url())
        self._thread.start()

    def notify(self) -> None:
        """New deliveries were committed: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.config.timeout + 2)
        self._client.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.send_due() >= self.batch
            except Exception:  # the database is away: log, keep the thread, try again
                log.exception("webhook sender failed; retrying")
                busy = False
                self._stop.wait(5.0)
            if not busy:
                self._wake.wait(self.poll)
                self._wake.clear()

    # ---------------------------------------------------------------- one pass

    def now(self) -> datetime:
        return self._clock().astimezone(UTC)

    def pending(self) -> int:
        """Deliveries neither delivered nor given up (due now or waiting for a retry)."""
        with self.sessions() as s:
            count = s.scalar(
                select(func.count())
                .select_from(Row)
                .where(Row.delivered_at.is_(None), Row.gave_up_at.is_(None))
            )
            return int(count or 0)

    def send_due(self) -> int:
        """Post every due delivery once, oldest first; returns how many were attempted."""
        now = self.now()
        if self._hold_until is not None and now < self._hold_until:
            return 0
        self._hold_until = None
        with self.sessions() as s:
            due = list(
                s.execute(
                    select(Row.id, Row.next_attempt_at)
                    .where(Row.delivered_at.is_(None), Row.gave_up_at.is_(None), Row.next_attempt_at <= now)
                    .order_by(Row.id)
                    .limit(self.batch)
                )
            )
        attempted = 0
        for row_id, was_due in due:
            if self._stop.is_set():
                break
            claimed = self._claim(row_id, was_due)
            if claimed is None:
                continue  # another sender has it
            attempted += 1
            result = self._post(claimed)
            if self._record(claimed, result):
                break  # the receiver is unreachable: the rest wait for the held retry
        return attempted

    def _claim(self, row_id: int, was_due: datetime) -> _Claimed | None:
        lease = self.now() + timedelta(seconds=self.config.timeout + 30)
        with self.sessions.begin() as s:
            result = s.execute(
                update(Row)
                .where(
                    Row.id == row_id,
                    Row.next_attempt_at == was_due,
                    Row.delivered_at.is_(None),
                    Row.gave_up_at.is_(None),
                )  # fmt: skip
                .values(next_attempt_at=lease, attempts=Row.attempts + 1)
            )
            if int(getattr(result, "rowcount", 0) or 0) != 1:
                return None
            row = s.get(Row, row_id, populate_existing=True)
            assert row is not None
            return _Claimed(row.id, row.key, row.case_id, row.change, row.payload.encode(), row.attempts)

    def _post(self, item: _Claimed) -> _Result:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"sentinel/{__version__}",
            "Idempotency-Key": item.key,
            "X-Sentinel-Event": item.change,
            "X-Sentinel-Attempt": str(item.attempts),
        }
        if self.config.secret_env is not None:
            secret = self.config.secret()
            if secret is None:  # the variable went away after the check: say which, never guess a key
                return _Result(error=f"environment variable {self.config.secret_env} is not set")
            headers[SIGNATURE_HEADER] = sign(secret, item.body)
        try:
            response = self._client.post(self.config.url, content=item.body, headers=headers)
        except httpx.TimeoutException:
            return _Result(unreachable=True, error=f"no answer within {self.config.timeout:g} s")
        except httpx.ConnectError as exc:
            return _Result(unreachable=True, error=f"cannot connect: {_first_line(exc)}")
        except httpx.HTTPError as exc:
            return _Result(error=f"{type(exc).__name__}: {_first_line(exc)}")
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            return _Result(delivered=True)
        error = f"HTTP {status} {response.reason_phrase}".strip()
        if status in RETRY_STATUSES or status >= 500:
            return _Result(
                error=error, retry_after=_retry_after(response.headers.get("Retry-After"), self.now())
            )
        if 300 <= status < 400:
            error += " (redirects are not followed: set webhook.url to the final address)"
        return _Result(permanent=True, error=error)

    def _record(self, item: _Claimed, result: _Result) -> bool:
        """Store the attempt's outcome; True when the whole queue should wait (receiver unreachable)."""
        now = self.now()
        error = self._scrub(result.error)
        values: dict[str, object] = {"last_error": error}
        outcome = "retry"
        if result.delivered:
            values, outcome = {"delivered_at": now, "last_error": None}, "delivered"
            if self.last_error is not None:
                log.info("webhook %s answers again", self.config.safe_url())
            self.last_error = None
        elif result.permanent or item.attempts >= self.config.max_attempts:
            values["gave_up_at"] = now
            outcome = "gave_up"
            why = "refused" if result.permanent else f"failed {item.attempts} times"
            log.error(
                "webhook delivery %s (case %s, %s) given up, %s: %s",
                item.key, item.case_id, item.change, why, error,
            )  # fmt: skip
        else:
            backoff = Backoff(self.config.retry_initial, self.config.retry_max, self._rng)
            backoff.attempt = item.attempts - 1
            delay = max(backoff.next_delay(), min(result.retry_after or 0.0, self.config.retry_max))
            values["next_attempt_at"] = now + timedelta(seconds=delay)
            if error != self.last_error:  # once per distinct problem, not at every retry
                log.warning("webhook %s: %s; retrying (delivery %s, attempt %d of %d)", self.config.safe_url(),
                            error, item.key, item.attempts, self.config.max_attempts)  # fmt: skip
            self.last_error = error
            if result.unreachable:
                self._hold_until = now + timedelta(seconds=delay)
        with self.sessions.begin() as s:
            s.execute(update(Row).where(Row.id == item.id).values(**values))
        if self._on_outcome is not None:
            self._on_outcome(outcome)
        return outcome == "retry" and result.unreachable

    def _scrub(self, error: str | None) -> str | None:
        """An error as stored and logged: at most 500 characters, and never the secret (a receiver or a
        library could echo it back)."""
        if error is None:
            return None
        secret = self.config.secret()
        if secret:
            error = error.replace(secret.decode("utf-8", "replace"), "***")
        return error[:500]


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a `Retry-After` header (seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds()) if when.tzinfo is not None else None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
