"""ORM rows of the console: users, their API tokens and login sessions, failed logins, the operators' alert
reviews, and the photos field staff report with (evidence).

No secret is stored in the clear: a password as its scrypt hash (with its own salt and cost), an API token and
a session id as the SHA-256 of a 256-bit random value (a lookup key, not a password: it needs no slow hash).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sentinel.cases.models import UTCDateTime
from sentinel.storage.db import Base

ROLES = ("operator", "technician", "admin", "grid_worker")
FIELD_ROLES = frozenset({"grid_worker"})  # field staff: bound to a roster person, see only their cases


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(16))  # operator / technician / admin / grid_worker
    # the roster person a field user is (grid_worker): their grants come from the roster (actor_from_roster)
    roster_id: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))  # scrypt$N$r$p$salt$hash (base64)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))  # what it is for ("prometheus", "command platform")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the token
    prefix: Mapped[str] = mapped_column(String(16))  # the token's first characters, to recognise it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # every token expires (console.token_lifetime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # why: revoked on request, the password changed, the user was deactivated (console/tokens.py)
    revoked_reason: Mapped[str | None] = mapped_column(String(100))


class SessionRow(Base):
    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie value
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))


class AlertReviewRow(Base):
    """An operator's decision on an alert. A rejection is a false-positive label, kept for tuning rules."""

    __tablename__ = "alert_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    verdict: Mapped[str] = mapped_column(String(16))  # confirmed / rejected
    label: Mapped[str | None] = mapped_column(String(32))  # rejected: false_positive
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))  # the console user
    ts: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LoginFailureRow(Base):
    """A failed login, under each key it counts for (`ip-user:ADDR NAME`, `ip:ADDR`, `user:NAME`); rows older
    than the limiter's window are deleted as new ones come in. Shared by every console over the database."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class EvidenceRow(Base):
    """A photo reported on a case from the field: re-encoded JPEG (no EXIF or GPS) under
    `<data_dir>/evidence/DAY/<uuid>.jpg`; `transition_id` when it came with a feedback action."""

    __tablename__ = "case_evidence"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid4, also the file name
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    transition_id: Mapped[int | None] = mapped_column(ForeignKey("case_transitions.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(100))  # as the case log records them (roster id or user:NAME)
    username: Mapped[str] = mapped_column(String(64))  # the console user who uploaded it
    ts: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    path: Mapped[str] = mapped_column(String(255))  # DAY/<id>.jpg under <data_dir>/evidence
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)  # bytes of the stored JPEG
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
