"""Database engine and schema migrations (SQLAlchemy 2 + Alembic), SQLite (WAL) or PostgreSQL, and
`open_database`: the one way every part (daemon, console, CLI) opens the configured database."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from sentinel.fields.env import expand_env
from sentinel.storage.private import PRIVATE_FILE, create_private_file, private_dir

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = 0x53454E54  # "SENT": the advisory lock held while migrating on PostgreSQL


class Base(DeclarativeBase):
    pass


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'sentinel.db'}"


def driver_url(url: str) -> str:
    """PostgreSQL URLs as users write them (`postgresql://`, `postgres://`) use psycopg 3; others are unchanged."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for `:memory:` and `file:` URIs."""
    database = make_url(url).database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: str) -> Engine:
    """The engine for `url`. A SQLite file that does not exist yet is created 0600 first: SQLite would make it
    0644 less the umask, and gives its -wal and -shm files the database file's mode."""
    url = driver_url(url)
    if url.startswith("sqlite"):
        file = _sqlite_file(url)
        if file is not None and file.parent.is_dir():
            with contextlib.suppress(OSError):  # cannot be made: SQLite says so on connecting, as before
                create_private_file(file)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers (console) never block the writer
            cur.execute("PRAGMA synchronous=FULL")  # an acknowledged commit survives power loss
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if url.startswith("postgresql+psycopg"):
        # a server that does not answer fails the start (or a reconnect) in seconds instead of hanging
        return create_engine(
            url,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 10, "application_name": "sentinel"},
        )
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # two processes starting at once (daemon, console, CLI) migrate one after the other
    with _sqlite_migration_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    """SQLite has no advisory lock and runs Alembic's DDL outside a transaction: an exclusive lock on a file
    beside the database stands in for PostgreSQL's (nothing to lock for other dialects or `:memory:`)."""
    file = engine.url.database if engine.dialect.name == "sqlite" else None
    if not file or file == ":memory:":
        yield
        return
    lock = os.open(f"{file}.migrate-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    finally:
        os.close(lock)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


class DatabaseError(Exception):
    """The database cannot be opened; the message says why, ready to show to the user."""


class DatabaseUrlError(DatabaseError):
    """`database.url` itself is wrong (not a URL, an unset `${VAR}`): a configuration error."""


class DatabaseMissing(DatabaseError):
    """Asked to open an existing SQLite database (create=False) and there is no file."""


class DatabaseSettings(Protocol):
    """What open_database reads from the `database:` settings (sentinel.storage.settings.DatabaseConfig)."""

    @property
    def url(self) -> str | None: ...


@dataclass(frozen=True)
class Database:
    """An open, migrated database: the engine and the session factory every part shares."""

    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        try:
            migrate(self.engine)
        except Exception as exc:
            raise DatabaseError(
                f"cannot open the database: {type(exc).__name__}: {_first_line(exc)}"
            ) from None

    def dispose(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.dispose()


def open_database(
    url_or_config: str | DatabaseSettings | None,
    data_dir: Path,
    *,
    create: bool = True,
    upgrade: bool = True,
) -> Database:
    """Open the configured database: `${VAR}` references expanded, SQLite (WAL) under `data_dir` when no URL
    is set, PostgreSQL through psycopg 3, the schema migrated to the newest revision.

    `create=False` refuses to create a new SQLite file (a command that only reads what `sentinel run` wrote);
    `upgrade=False` leaves the schema as it is (call `Database.migrate` once the caller has checked the
    dialect). Every failure is a DatabaseError with a message for the user; nothing is left open on failure."""
    url = url_or_config if url_or_config is None or isinstance(url_or_config, str) else url_or_config.url
    try:
        resolved = expand_env(url) if url else sqlite_url(data_dir)
    except KeyError as exc:
        raise DatabaseUrlError(f"database.url: environment variable {exc.args[0]} is not set") from None
    try:
        parsed = make_url(driver_url(resolved))
    except Exception:
        raise DatabaseUrlError("database.url is not a database URL") from None
    if parsed.get_backend_name() == "sqlite":
        file = parsed.database or ""
        if file not in ("", ":memory:"):
            if not create and not Path(file).is_file():
                raise DatabaseMissing(
                    f"no database at {file} (has `sentinel run` ever started with this config?)"
                )
            if url is None:
                try:
                    private_dir(data_dir)
                except OSError as exc:
                    raise DatabaseError(f"cannot make the data folder {data_dir}: {exc.strerror}") from None
    try:
        engine = make_engine(resolved)
    except Exception as exc:
        raise DatabaseError(f"cannot open the database: {type(exc).__name__}: {_first_line(exc)}") from None
    database = Database(engine, session_factory(engine))
    if upgrade:
        try:
            database.migrate()
        except DatabaseError:
            engine.dispose()
            raise
    return database


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]
