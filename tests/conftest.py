"""Shared fixtures.  Real servers live in ``tests/support`` (import them as ``tests.support.*``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.footage import vtest_h264
from tests.support.servers import Mosquitto, RtspServer


@pytest.fixture(scope="session")
def footage_720p() -> Path:
    """vtest.avi as 1280x720 25 fps H.264, keyframe every 50 frames (cached MP4)."""
    return vtest_h264(1280, 720)


@pytest.fixture
def mqtt_broker() -> Iterator[Mosquitto]:
    """A private Mosquitto on 127.0.0.1:<free port>; ``.url``, ``.port``, ``.stop()``, ``.start()``."""
    with Mosquitto() as broker:
        yield broker


@pytest.fixture
def rtsp_server(footage_720p: Path) -> Iterator[RtspServer]:
    """RTSP server with one mount ``cam1`` looping the 720p footage; ``.url("cam1")``."""
    with RtspServer({"cam1": footage_720p}) as server:
        yield server


# ---------------------------------------------------------------- databases: SQLite and PostgreSQL

if TYPE_CHECKING:
    from tests.support.pg import PgDatabase


@pytest.fixture(scope="session")
def pg_database() -> Iterator[PgDatabase]:
    """This session's own PostgreSQL database (``tests.support.pg.PgDatabase``), dropped at the end;
    skips (with the reason) when no server is usable, fails when ``SENTINEL_TEST_DATABASE_URL`` is set
    but unusable."""
    from tests.support import pg

    try:
        admin = pg.find_server()
    except pg.PgUnavailable as exc:
        pytest.skip(f"PostgreSQL tests skipped: {exc}")
    database = pg.create(admin)
    try:
        yield database
    finally:
        database.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for the store, outbox and case engine: a fresh SQLite file, and (second run) an
    emptied PostgreSQL database; the same code runs on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sentinel.db'}"
    database: PgDatabase = request.getfixturevalue("pg_database")
    database.reset()
    return database.url
