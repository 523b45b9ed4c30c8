"""`sentinel.storage.open_database`: the one way the daemon, the console and the CLI open the database, on
SQLite and on a real PostgreSQL (`db_url`), with messages a user can act on when it cannot."""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from sentinel.storage import Database, DatabaseError, DatabaseMissing, DatabaseUrlError, open_database
from sentinel.storage.outbox import Outbox, OutboxRow
from sentinel.storage.settings import DatabaseConfig

TABLES = {"alerts", "outbox", "cases", "users", "nodes", "alembic_version"}


def _tables(db: Database) -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def _head(db: Database) -> str:
    with db.engine.connect() as conn:
        return str(conn.scalar(sa.text("SELECT version_num FROM alembic_version")))


def test_no_url_is_sqlite_under_the_data_dir_created_and_migrated(tmp_path: Path) -> None:
    data_dir = tmp_path / "var" / "site"  # does not exist yet
    with open_database(DatabaseConfig(), data_dir) as db:
        assert db.dialect == "sqlite"
        assert (data_dir / "sentinel.db").is_file()
        assert _tables(db) >= TABLES
        head = _head(db)
        with db.engine.connect() as conn:
            assert conn.scalar(sa.text("PRAGMA journal_mode")) == "wal"
    with open_database(None, data_dir) as again:  # idempotent: the same head, nothing to do
        assert _head(again) == head


def test_the_same_schema_on_both_databases_and_the_outbox_works(db_url: str, tmp_path: Path) -> None:
    with open_database(db_url, tmp_path) as db:
        assert _tables(db) >= TABLES
        with db.sessions.begin() as s:
            s.add(OutboxRow(topic="t/1", payload="{}", qos=1, retain=False, created_at=datetime.now(UTC)))
        outbox = Outbox(db.engine)
        pending = outbox.pending()
        assert [p.topic for p in pending] == ["t/1"] and outbox.outbox_depth() == 1
        outbox.mark_sent([pending[0].id])
        assert outbox.outbox_depth() == 0 and outbox.pending() == []


def test_processes_starting_at_once_migrate_one_after_the_other(db_url: str, tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            open_database(db_url, tmp_path).dispose()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


def test_an_unset_variable_in_the_url_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENTINEL_T_DB_PASSWORD", raising=False)
    with pytest.raises(
        DatabaseUrlError, match="^database.url: environment variable SENTINEL_T_DB_PASSWORD is not set$"
    ):
        open_database("postgresql://u:${SENTINEL_T_DB_PASSWORD}@127.0.0.1/db", tmp_path)


def test_an_env_reference_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_T_DB_FILE", str(tmp_path / "from-env.db"))
    with open_database(DatabaseConfig(url="sqlite:///${SENTINEL_T_DB_FILE}"), tmp_path / "unused") as db:
        assert _tables(db) >= TABLES
    assert (tmp_path / "from-env.db").is_file() and not (tmp_path / "unused").exists()


def test_not_a_url(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUrlError, match="not a database URL"):
        open_database("just some words", tmp_path)


def test_create_false_refuses_a_missing_sqlite_file_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(DatabaseMissing, match="no database at .*sentinel.db"):
        open_database(None, tmp_path / "var", create=False)
    assert not (tmp_path / "var").exists()
    open_database(None, tmp_path / "var").dispose()
    open_database(None, tmp_path / "var", create=False).dispose()  # now there is one


def test_upgrade_false_leaves_the_schema_for_the_caller(tmp_path: Path) -> None:
    with open_database(None, tmp_path, upgrade=False) as db:
        assert _tables(db) == set()
        db.migrate()
        assert _tables(db) >= TABLES


def test_a_server_that_is_not_there_fails_with_the_reason(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DatabaseError, match="^cannot open the database: OperationalError: .*") as caught:
        open_database(f"postgresql://u:secret@127.0.0.1:{port}/db", tmp_path)
    assert not isinstance(caught.value, DatabaseUrlError)
