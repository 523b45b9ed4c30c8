"""Console users, API tokens and login sessions, over the database (used by the app and `sentinel users`).

Roles: operator (reviews alerts, acts on cases), technician (cameras, zones, snapshots), admin (users, and
everything the other two may do), grid_worker (field staff bound to a roster person: the phone page, only the
cases their roster grants cover; console/scope.py). Every reader signs in; roles gate the actions.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from sentinel.cases.roster import Roster
from sentinel.console.models import FIELD_ROLES, ROLES, ApiTokenRow, SessionRow, UserRow
from sentinel.console.passwords import (
    SCRYPT_COST,
    TOKEN_PREFIX,
    ScryptCost,
    burn_time,
    hash_password,
    needs_rehash,
    new_secret,
    password_problem,
    secret_digest,
    verify_password,
)
from sentinel.console.tokens import (
    REVOKED_DEACTIVATED,
    REVOKED_ON_REQUEST,
    REVOKED_PASSWORD,
    TokenInfo,
    TokenRefused,
    lifetime,
    refusal,
    revoke_all,
    token_info,
)

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}$")
SESSION_TTL = timedelta(hours=12)  # idle time a session survives (a shift); every request moves it on
SESSION_MAX = timedelta(days=7)  # and its whole life, however busy
TOUCH_EVERY = timedelta(minutes=1)  # write last-seen/used times at most this often
TOKEN_LIFETIME = timedelta(days=90)  # an API token's life unless `console.token_lifetime` says otherwise
# scrypt hashes computed at once (each takes 128 MiB at the default cost): a flood of logins queues here
# instead of exhausting memory
HASHES_AT_ONCE = max(1, min(4, os.cpu_count() or 1))
GRANTS: dict[str, frozenset[str]] = {
    "operator": frozenset({"operator"}),
    "technician": frozenset({"technician"}),
    "admin": frozenset(ROLES) - FIELD_ROLES,
    "grid_worker": frozenset({"grid_worker"}),
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
    roster_id: str | None = None

    @property
    def field(self) -> bool:
        """Field staff (grid_worker): scoped to the cases their roster person covers."""
        return self.role in FIELD_ROLES

    def may(self, *roles: str) -> bool:
        """Whether this user holds one of `roles` (admin holds them all)."""
        return any(r in GRANTS.get(self.role, frozenset()) for r in roles)

    @property
    def actor(self) -> str:
        """How the user appears in the case log."""
        return f"user:{self.username}"


def _user(row: UserRow) -> User:
    return User(row.id, row.username, row.display_name, row.role, row.active, row.roster_id)


def check_username(username: str) -> None:
    if not USERNAME.match(username):
        raise UserError(
            f"user name {username!r}: 1-64 letters, digits, _ . @ -, starting with a letter or digit"
        )


def check_role(role: str) -> None:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")


def check_roster_id(role: str, roster_id: str | None, roster: Roster | None) -> None:
    """A field role needs a person of the roster; the other roles take none."""
    if role not in FIELD_ROLES:
        if roster_id:
            raise UserError(f"a roster id binds field staff only (role grid_worker), not {role}")
        return
    if not roster_id:
        raise UserError(f"role {role} needs the roster person it is (--roster-id, an id of roster.yaml)")
    if roster is None:
        raise UserError("no roster is configured (grid.roster): a grid_worker cannot be bound to anyone")
    if roster_id not in roster.people:
        raise UserError(f"{roster_id!r} is not a person of the roster (roster.yaml people:)")


class Users:
    """Users, their API tokens and sessions. `token_lifetime`: the longest (and default) life of a new token
    (`console.token_lifetime`). `password_cost`: scrypt's cost for new hashes; leave it at SCRYPT_COST — only
    the test suite passes a cheaper one (passwords.py)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        session_ttl: timedelta = SESSION_TTL,
        *,
        token_lifetime: timedelta = TOKEN_LIFETIME,
        password_cost: ScryptCost = SCRYPT_COST,
    ) -> None:
        self._session = sessions
        self._clock = clock
        self.session_ttl = session_ttl
        self.token_lifetime = token_lifetime
        self.password_cost = password_cost
        self._hashing = threading.BoundedSemaphore(HASHES_AT_ONCE)

    def _hash(self, password: str) -> str:
        with self._hashing:
            return hash_password(password, self.password_cost)

    def _verify(self, password: str, stored: str | None) -> bool:
        with self._hashing:
            if stored is None:
                burn_time(password, self.password_cost)
                return False
            return verify_password(password, stored)

    # ---------------------------------------------------------------- users

    def add(
        self, username: str, password: str, role: str, display_name: str = "", *,
        roster_id: str | None = None,
    ) -> User:  # fmt: skip
        """A new user; `roster_id` binds a grid_worker to a roster person (the caller checks it against the
        roster: `check_roster_id`)."""
        check_username(username)
        check_role(role)
        problem = password_problem(password, username)
        if problem:
            raise UserError(problem)
        if self.get(username) is not None:  # before spending a hash on it
            raise UserExists(f"user {username!r} exists already")
        password_hash = self._hash(password)
        now = self._clock()
        with self._session.begin() as s:
            if s.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
                raise UserExists(f"user {username!r} exists already")
            row = UserRow(
                username=username, display_name=display_name, role=role, password_hash=password_hash,
                roster_id=roster_id or None, active=True, created_at=now, updated_at=now,
                password_changed_at=now,
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
        """A new password (set by an admin, or by the user): the user's sessions end and every API token of
        theirs is revoked, in the same transaction."""
        problem = password_problem(password, username)
        if problem:
            raise UserError(problem)
        password_hash = self._hash(password)
        now = self._clock()
        with self._session.begin() as s:
            row = self._row(s, username)
            row.password_hash, row.password_changed_at, row.updated_at = password_hash, now, now
            s.execute(delete(SessionRow).where(SessionRow.user_id == row.id))
            revoke_all(s, row.id, now, REVOKED_PASSWORD)

    def change_password(self, username: str, current: str, new: str) -> bool:
        """The user's own change: False (nothing changed) when `current` is not their password."""
        if self.authenticate(username, current) is None:
            return False
        if new == current:
            raise UserError("the new password must differ from the current one")
        self.set_password(username, new)
        return True

    def update(
        self, username: str, *, role: str | None = None, active: bool | None = None,
        display_name: str | None = None, roster_id: str | None = None,
    ) -> User:  # fmt: skip
        """Change a user; deactivating them ends their sessions and revokes their API tokens. (Role and
        roster person are read on every request: a change takes effect at once.)"""
        if role is not None:
            check_role(role)
        now = self._clock()
        with self._session.begin() as s:
            row = self._row(s, username)
            if role is not None:
                row.role = role
            if roster_id is not None:
                row.roster_id = roster_id or None
            if row.role not in FIELD_ROLES:
                row.roster_id = None
            if display_name is not None:
                row.display_name = display_name
            if active is not None:
                if row.active and not active:
                    s.execute(delete(SessionRow).where(SessionRow.user_id == row.id))
                    revoke_all(s, row.id, now, REVOKED_DEACTIVATED)
                row.active = active
            row.updated_at = now
            return _user(row)

    def authenticate(self, username: str, password: str) -> User | None:
        """The active user with this password, else None (as slow for unknown users as for known ones). A hash
        weaker than `password_cost` is replaced by one at that cost."""
        with self._session() as s:
            row = s.scalars(select(UserRow).where(UserRow.username == username)).first()
            stored = row.password_hash if row is not None else None
        if not self._verify(password, stored) or row is None or not row.active:
            return None
        rehash = self._hash(password) if needs_rehash(row.password_hash, self.password_cost) else None
        with self._session.begin() as s:
            # the same hash still stored: a password changed meanwhile is not overwritten
            current = s.get(UserRow, row.id)
            if current is None or current.password_hash != stored or not current.active:
                return None
            if rehash is not None:
                current.password_hash = rehash
            current.last_login_at = self._clock()
            return _user(current)

    # ---------------------------------------------------------------- API tokens

    def create_token(
        self, username: str, name: str, expires_in: timedelta | None = None
    ) -> tuple[str, TokenInfo]:
        """A new bearer token for the user: the token itself (shown once, never stored) and its record. It
        lives `expires_in`, at most (and by default) `token_lifetime`."""
        if not name.strip():
            raise UserError("give the token a name (what it is for)")
        try:
            life = lifetime(expires_in, self.token_lifetime)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        token, digest = new_secret(TOKEN_PREFIX)
        now = self._clock()
        with self._session.begin() as s:
            user = self._row(s, username)
            row = ApiTokenRow(
                user_id=user.id, name=name.strip(), token_hash=digest, prefix=token[:10], created_at=now,
                expires_at=now + life,
            )  # fmt: skip
            s.add(row)
            s.flush()
            return token, token_info(row, username, now)

    def tokens(self, username: str | None = None) -> list[TokenInfo]:
        now = self._clock()
        with self._session() as s:
            q = select(ApiTokenRow, UserRow.username).join(UserRow, UserRow.id == ApiTokenRow.user_id)
            if username is not None:
                q = q.where(UserRow.username == username)
            return [token_info(t, u, now) for t, u in s.execute(q.order_by(ApiTokenRow.id))]

    def revoke_token(self, token_id: int, reason: str = REVOKED_ON_REQUEST) -> TokenInfo:
        now = self._clock()
        with self._session.begin() as s:
            row = s.get(ApiTokenRow, token_id)
            if row is None:
                raise NoSuchUser(f"no token {token_id}")
            if row.revoked_at is None:
                row.revoked_at, row.revoked_reason = now, reason[:100]
            user = s.get(UserRow, row.user_id)
            return token_info(row, user.username if user else "?", now)

    def token_user(self, token: str) -> User:
        """The user a bearer token signs in; TokenRefused (saying why) when it is unknown, expired, revoked or
        its user deactivated."""
        if not token.startswith(TOKEN_PREFIX):
            raise TokenRefused("unknown")
        now = self._clock()
        with self._session.begin() as s:
            row = s.scalars(select(ApiTokenRow).where(ApiTokenRow.token_hash == secret_digest(token))).first()
            user = s.get(UserRow, row.user_id) if row is not None else None
            refused = refusal(row, user is not None and user.active, now)
            if refused is not None:
                raise refused
            assert row is not None and user is not None
            if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
                row.last_used_at = now
            return _user(user)

    def user_for_token(self, token: str) -> User | None:
        try:
            return self.token_user(token)
        except TokenRefused:
            return None

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
