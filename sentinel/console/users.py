"""Console users, API tokens and login sessions, over the database (used by the app and `sentinel users`).

Roles: operator (reviews alerts, acts on cases), technician (cameras, zones, snapshots), admin (users, and
everything the other two may do). Every reader signs in; roles gate the actions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from sentinel.console.models import ROLES, ApiTokenRow, SessionRow, UserRow
from sentinel.console.passwords import (
    TOKEN_PREFIX,
    burn_time,
    hash_password,
    needs_rehash,
    new_secret,
    password_problem,
    secret_digest,
    verify_password,
)

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$")
SESSION_TTL = timedelta(hours=12)  # idle time a session survives (a shift); every request moves it on
SESSION_MAX = timedelta(days=7)  # and its whole life, however busy
TOUCH_EVERY = timedelta(minutes=1)  # write last-seen/used times at most this often
GRANTS: dict[str, frozenset[str]] = {
    "operator": frozenset({"operator"}),
    "technician": frozenset({"technician"}),
    "admin": frozenset(ROLES),
}


class UserError(Exception):
    """A request about users that cannot be carried out; the message says why (never a password)."""


class NoSuchUser(UserError):
    pass


class UserExists(UserError):
    pass


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str
    role: str
    active: bool

    def may(self, *roles: str) -> bool:
        """Whether this user holds one of `roles` (admin holds them all)."""
        return any(r in GRANTS.get(self.role, frozenset()) for r in roles)

    @property
    def actor(self) -> str:
        """How the user appears in the case log."""
        return f"user:{self.username}"


@dataclass(frozen=True)
class TokenInfo:
    id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


def _user(row: UserRow) -> User:
    return User(row.id, row.username, row.display_name, row.role, row.active)


def check_username(username: str) -> None:
    if not USERNAME.match(username):
        raise UserError(
            f"user name {username!r}: 1-64 letters, digits, _ . @ -, starting with a letter or digit"
        )


def check_role(role: str) -> None:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")


class Users:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        session_ttl: timedelta = SESSION_TTL,
    ) -> None:
        self._session = sessions
        self._clock = clock
        self.session_ttl = session_ttl

    # ---------------------------------------------------------------- users

    def add(self, username: str, password: str, role: str, display_name: str = "") -> User:
        check_username(username)
        check_role(role)
        problem = password_problem(password, username)
        if problem:
            raise UserError(problem)
        now = self._clock()
        with self._session.begin() as s:
            if s.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
                raise UserExists(f"user {username!r} exists already")
            row = UserRow(
                username=username, display_name=display_name, role=role, password_hash=hash_password(password),
                active=True, created_at=now, updated_at=now, password_changed_at=now,
            )  # fmt: skip
            s.add(row)
            s.flush()
            return _user(row)

    def _row(self, s: Session, username: str) -> UserRow:
        row = s.scalars(select(UserRow).where(UserRow.username == username)).first()
        if row is None:
            raise NoSuchUser(f"no user {username!r}")
        return row

    def get(self, username: str) -> User | None:
        with self._session() as s:
            row = s.scalars(select(UserRow).where(UserRow.username == username)).first()
            return _user(row) if row else None

    def all(self) -> list[User]:
        with self._session() as s:
            return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.username))]

    def set_password(self, username: str, password: str) -> None:
        """A new password; the user's open sessions end (their API tokens stay)."""
        problem = password_problem(password, username)
        if problem:
            raise UserError(problem)
        now = self._clock()
        with self._session.begin() as s:
            row = self._row(s, username)
            row.password_hash, row.password_changed_at, row.updated_at = hash_password(password), now, now
            s.execute(delete(SessionRow).where(SessionRow.user_id == row.id))

    def update(
        self, username: str, *, role: str | None = None, active: bool | None = None,
        display_name: str | None = None,
    ) -> User:  # fmt: skip
        if role is not None:
            check_role(role)
        with self._session.begin() as s:
            row = self._row(s, username)
            if role is not None:
                row.role = role
            if display_name is not None:
                row.display_name = display_name
            if active is not None:
                row.active = active
                if not active:
                    s.execute(delete(SessionRow).where(SessionRow.user_id == row.id))
            row.updated_at = self._clock()
            return _user(row)

    def authenticate(self, username: str, password: str) -> User | None:
        """The active user with this password, else None (as slow for unknown users as for known ones)."""
        with self._session.begin() as s:
            row = s.scalars(select(UserRow).where(UserRow.username == username)).first()
            if row is None:
                burn_time(password)
                return None
            if not verify_password(password, row.password_hash) or not row.active:
                return None
            if needs_rehash(row.password_hash):
                row.password_hash = hash_password(password)
            row.last_login_at = self._clock()
            return _user(row)

    # ---------------------------------------------------------------- API tokens

    def create_token(
        self, username: str, name: str, expires_in: timedelta | None = None
    ) -> tuple[str, TokenInfo]:
        """A new bearer token for the user: the token itself (shown once, never stored) and its record."""
        if not name.strip():
            raise UserError("give the token a name (what it is for)")
        token, digest = new_secret(TOKEN_PREFIX)
        now = self._clock()
        with self._session.begin() as s:
            user = self._row(s, username)
            row = ApiTokenRow(
                user_id=user.id, name=name.strip(), token_hash=digest, prefix=token[:10], created_at=now,
                expires_at=now + expires_in if expires_in else None,
            )  # fmt: skip
            s.add(row)
            s.flush()
            return token, self._token_info(row, username)

    @staticmethod
    def _token_info(row: ApiTokenRow, username: str) -> TokenInfo:
        return TokenInfo(
            row.id, username, row.name, row.prefix, row.created_at, row.expires_at, row.last_used_at,
            row.revoked_at is not None,
        )  # fmt: skip

    def tokens(self, username: str | None = None) -> list[TokenInfo]:
        with self._session() as s:
            q = select(ApiTokenRow, UserRow.username).join(UserRow, UserRow.id == ApiTokenRow.user_id)
            if username is not None:
                q = q.where(UserRow.username == username)
            return [self._token_info(t, u) for t, u in s.execute(q.order_by(ApiTokenRow.id))]

    def revoke_token(self, token_id: int) -> TokenInfo:
        with self._session.begin() as s:
            row = s.get(ApiTokenRow, token_id)
            if row is None:
                raise NoSuchUser(f"no token {token_id}")
            row.revoked_at = row.revoked_at or self._clock()
            user = s.get(UserRow, row.user_id)
            return self._token_info(row, user.username if user else "?")

    def user_for_token(self, token: str) -> User | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        now = self._clock()
        with self._session.begin() as s:
            row = s.scalars(select(ApiTokenRow).where(ApiTokenRow.token_hash == secret_digest(token))).first()
            if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
                return None
            user = s.get(UserRow, row.user_id)
            if user is None or not user.active:
                return None
            if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
                row.last_used_at = now
            return _user(user)

    # ---------------------------------------------------------------- sessions (the page's cookie)

    def create_session(self, user: User, ip: str | None, user_agent: str | None) -> str:
        """A new login session; returns the cookie value (only its digest is stored)."""
        value, digest = new_secret()
        now = self._clock()
        with self._session.begin() as s:
            s.add(
                SessionRow(
                    id=digest, user_id=user.id, created_at=now, expires_at=now + self.session_ttl,
                    last_seen_at=now, ip=(ip or "")[:64] or None, user_agent=(user_agent or "")[:255] or None,
                )
            )  # fmt: skip
            s.execute(delete(SessionRow).where(SessionRow.expires_at <= now))  # tidy up old ones
        return value

    def user_for_session(self, value: str) -> User | None:
        now = self._clock()
        with self._session.begin() as s:
            row = s.get(SessionRow, secret_digest(value))
            if row is None or row.expires_at <= now or now - row.created_at >= SESSION_MAX:
                return None
            user = s.get(UserRow, row.user_id)
            if user is None or not user.active:
                return None
            if now - row.last_seen_at >= TOUCH_EVERY:
                row.last_seen_at, row.expires_at = now, now + self.session_ttl
            return _user(user)

    def end_session(self, value: str) -> None:
        with self._session.begin() as s:
            s.execute(delete(SessionRow).where(SessionRow.id == secret_digest(value)))
