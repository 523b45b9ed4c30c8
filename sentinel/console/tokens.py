"""API bearer tokens: what a token record says, why a token is refused, and the rules of their lives.

Every token expires: `console.token_lifetime` after it is made (90 days by default), or sooner if asked. A
password change or reset and deactivating the user revoke all of the user's tokens, with the reason kept on
each (`revoked_reason`), so a refusal can say what happened. `Users` (users.py) stores and checks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy import update
from sqlalchemy.orm import Session

from sentinel.console.models import ApiTokenRow

REVOKED_PASSWORD = "the password changed"
REVOKED_DEACTIVATED = "the user was deactivated"
REVOKED_ON_REQUEST = "revoked on request"


@dataclass(frozen=True)
class TokenInfo:
    id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked: bool
    revoked_reason: str | None
    expired: bool

    @property
    def state(self) -> str:
        if self.revoked:
            return f"revoked ({self.revoked_reason})" if self.revoked_reason else "revoked"
        return "expired" if self.expired else "valid"


def token_info(row: ApiTokenRow, username: str, now: datetime) -> TokenInfo:
    return TokenInfo(
        row.id, username, row.name, row.prefix, row.created_at, row.expires_at, row.last_used_at,
        row.revoked_at is not None, row.revoked_reason, row.expires_at <= now,
    )  # fmt: skip


class TokenRefused(Exception):
    """A bearer token that does not sign anyone in; `describe()` says why, for the 401 answer."""

    def __init__(self, what: str, at: datetime | None = None, why: str | None = None) -> None:
        super().__init__(what)
        self.what, self.at, self.why = what, at, why

    def describe(self, tz: tzinfo = UTC) -> str:
        when = self.at.astimezone(tz).isoformat(timespec="seconds") if self.at else ""
        if self.what == "expired":
            return f"this API token expired at {when}; an admin can make a new one (sentinel users token)"
        if self.what == "revoked":
            return f"this API token was revoked at {when}" + (f": {self.why}" if self.why else "")
        if self.what == "inactive":
            return "this API token's user is deactivated"
        return "invalid API token"


def refusal(row: ApiTokenRow | None, user_active: bool, now: datetime) -> TokenRefused | None:
    """Why this token (None: not found) is refused at `now`, or None when it is good."""
    if row is None:
        return TokenRefused("unknown")
    if row.revoked_at is not None:
        return TokenRefused("revoked", row.revoked_at, row.revoked_reason)
    if row.expires_at <= now:
        return TokenRefused("expired", row.expires_at)
    if not user_active:
        return TokenRefused("inactive")
    return None


def lifetime(asked: timedelta | None, longest: timedelta) -> timedelta:
    """The life of a new token: `asked`, at most `longest` (`console.token_lifetime`); ValueError with the
    reason for a life that is not positive or too long."""
    if asked is None:
        return longest
    if asked <= timedelta(0):
        raise ValueError("a token's lifetime must be positive")
    if asked > longest:
        raise ValueError(
            f"a token may live at most {describe_span(longest)} (console.token_lifetime); "
            f"asked for {describe_span(asked)}"
        )
    return asked


def describe_span(span: timedelta) -> str:
    seconds = span.total_seconds()
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} seconds"


def revoke_all(s: Session, user_id: int, now: datetime, reason: str) -> None:
    """Revoke every token of the user that is not revoked yet (inside the caller's transaction)."""
    s.execute(
        update(ApiTokenRow)
        .where(ApiTokenRow.user_id == user_id, ApiTokenRow.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
