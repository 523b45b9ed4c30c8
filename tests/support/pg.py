"""A PostgreSQL database for the tests, on a real server (psycopg 3).

Where the server comes from:

* ``SENTINEL_TEST_DATABASE_URL`` (``postgresql://user:password@host:port/db``; ``scripts/test.sh`` starts a
  local server and sets it): the role must be allowed to ``CREATE DATABASE``. Set but unusable: the
  PostgreSQL tests fail (you asked for them), they do not skip.
* unset: a server answering on 127.0.0.1:5432 is tried as ``postgres`` and as the current user without a
  password (Debian's trust/peer set-ups). Nothing usable: the PostgreSQL tests skip, saying why.

One database per test session, with a unique name, dropped at the end (``DROP DATABASE ... WITH (FORCE)``);
:meth:`PgDatabase.reset` empties it between tests (a fresh ``public`` schema).
"""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from dataclasses import dataclass

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

ENV = "SENTINEL_TEST_DATABASE_URL"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 5432


class PgUnavailable(Exception):
    """No usable server; the message says why (used as the skip reason)."""


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _conninfo(url: URL) -> dict[str, object]:
    info: dict[str, object] = {"host": url.host or DEFAULT_HOST, "port": url.port or DEFAULT_PORT}
    info["dbname"] = url.database or "postgres"
    if url.username:
        info["user"] = url.username
    if url.password:
        info["password"] = url.password
    info["connect_timeout"] = 5
    return info


def connect(url: URL) -> psycopg.Connection:
    return psycopg.connect(**_conninfo(url), autocommit=True)  # type: ignore[arg-type]


def plain_url(url: URL | str) -> URL:
    """The URL as psycopg takes it (no `+driver`), for administrative connections."""
    u = make_url(url) if isinstance(url, str) else url
    return u.set(drivername="postgresql")


def find_server() -> URL:
    """The administrative URL of a usable server, or PgUnavailable with the reason."""
    configured = os.environ.get(ENV)
    if configured:
        url = plain_url(configured)
        try:
            with connect(url):
                pass
        except psycopg.Error as exc:
            raise RuntimeError(f"{ENV} is set but the server cannot be used: {exc}") from None
        return url
    if not _answers(DEFAULT_HOST, DEFAULT_PORT):
        raise PgUnavailable(
            f"no PostgreSQL server: nothing answers on {DEFAULT_HOST}:{DEFAULT_PORT} and {ENV} is not set "
            "(scripts/test.sh starts one)"
        )
    errors = []
    for user in dict.fromkeys(["postgres", getpass.getuser()]):
        url = URL.create(
            "postgresql", username=user, host=DEFAULT_HOST, port=DEFAULT_PORT, database="postgres"
        )
        try:
            with connect(url):
                return url
        except psycopg.Error as exc:
            errors.append(f"as {user}: {str(exc).strip().splitlines()[-1]}")
    raise PgUnavailable(
        f"a PostgreSQL server answers on {DEFAULT_HOST}:{DEFAULT_PORT} but refuses a password-less login "
        f"({'; '.join(errors)}); set {ENV}"
    )


@dataclass
class PgDatabase:
    """A database of its own on the server at `admin` (created by :func:`create`)."""

    admin: URL
    name: str

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the database as a user writes it (`postgresql://`), password included."""
        return self.admin.set(database=self.name).render_as_string(hide_password=False)

    @property
    def sa_url(self) -> URL:
        return self.admin.set(database=self.name)

    def reset(self) -> None:
        """Empty the database: close other sessions on it (pools left by earlier tests), fresh `public`."""
        with connect(self.sa_url) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND usename = current_user"
            )
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute("CREATE SCHEMA public")

    def drop(self) -> None:
        with connect(self.admin) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))

    def add_login_role(self, password: str) -> tuple[str, str]:
        """A role that logs in with `password` and may create tables here; returns (role, its URL without
        the password). Needs CREATEROLE (or a superuser) on the admin account."""
        role = f"sentinel_t_{uuid.uuid4().hex[:10]}"
        with connect(self.admin) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
        with connect(self.sa_url) as conn:
            conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(sql.Identifier(role)))
        url = URL.create(
            "postgresql", username=role, host=self.admin.host, port=self.admin.port, database=self.name
        )
        return role, url.render_as_string(hide_password=False)

    def drop_role(self, role: str) -> None:
        """Drop a role made by :meth:`add_login_role`, with what it owns here (it owns nothing elsewhere)."""
        self.reset()  # its tables and its grant on `public` go with the schema
        with connect(self.admin) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def create(admin: URL) -> PgDatabase:
    """A new, uniquely named database for this test session."""
    name = f"sentinel_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with connect(admin) as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise RuntimeError(f"cannot create a test database on {admin.host}:{admin.port}: {exc}") from None
    return PgDatabase(admin, name)
