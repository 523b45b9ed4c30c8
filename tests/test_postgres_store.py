"""The store, the outbox, the case engine and the migrations on a real PostgreSQL (psycopg 3), with the same code
as on SQLite. The server: ``SENTINEL_TEST_DATABASE_URL`` or one on 127.0.0.1:5432 (see tests/support/pg.py);
without one these tests skip, saying why. The parametrised store/outbox/case-engine suites (``db_url``) run on
PostgreSQL too; this file covers what only PostgreSQL has: row locks, concurrent migrations, every revision
up and down, time zones of a real TIMESTAMPTZ."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from sentinel.alerts.schema import Alert, AlertGrid, AlertLocation
from sentinel.alerts.store import AlertStore
from sentinel.cases import engine as case_engine_module
from sentinel.cases.engine import CaseEngine
from sentinel.cases.models import CaseRow
from sentinel.cases.routing import Routing
from sentinel.cluster import models as cluster_models  # noqa: F401
from sentinel.config.event_types import default_event_types
from sentinel.console import models as console_models  # noqa: F401  (its tables are in the migrations too)
from sentinel.storage.db import MIGRATIONS, Base, driver_url, make_engine, migrate, session_factory
from tests.support.pg import PgDatabase

TZ = ZoneInfo("Asia/Shanghai")
GRID = "110101001002003"
ROUTING = Routing(GRID, GRID[:12], GRID[:9], "w1", "gl1", "cd1", "sd1")


@pytest.fixture
def pg(pg_database: PgDatabase) -> PgDatabase:
    pg_database.reset()
    return pg_database


def _alembic(conn: sa.Connection | None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def _alert(event_type: str = "garbage_exposed", when: datetime | None = None, camera: str = "cam1") -> Alert:
    et = default_event_types()[event_type]
    ts = (when or datetime.now(TZ)).isoformat()
    return Alert(
        alert_id=str(uuid.uuid4()), site="demo", event_type=event_type, code=et.code, name=et.name,
        name_en=et.name_en, severity=et.severity.value, camera_id=camera, camera_name=camera, zone="z1",
        started_at=ts, detected_at=ts, confidence=0.9, count=1, objects=[],
        location=AlertLocation(lon=116.4, lat=39.9, method="camera"),
        grid=AlertGrid(street=GRID[:9], community=GRID[:12], grid=GRID, name=None), snapshot=None,
    )  # fmt: skip


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_postgresql_urls_use_psycopg3() -> None:
    assert driver_url("postgresql://u:p@db:5432/s") == "postgresql+psycopg://u:p@db:5432/s"
    assert driver_url("postgres://u@db/s") == "postgresql+psycopg://u@db/s"
    assert driver_url("postgresql+psycopg://u@db/s") == "postgresql+psycopg://u@db/s"
    assert driver_url("sqlite:///var/x.db") == "sqlite:///var/x.db"
    engine = make_engine("postgresql://u:p@127.0.0.1:1/s")  # nothing is connected yet
    assert engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"


def test_every_revision_up_and_down_keeps_the_alerts(pg: PgDatabase) -> None:
    """From the first schema on: an alert stored under 0001 survives every later revision; each revision
    downgrades and upgrades again cleanly on PostgreSQL."""
    engine = make_engine(pg.url)
    script = ScriptDirectory.from_config(_alembic(None))
    revisions = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    assert revisions[:2] == ["0001", "0002"]
    with engine.begin() as conn:
        command.upgrade(_alembic(conn), "0001")
    assert _tables(engine) == {"alerts", "outbox"}
    store = AlertStore(engine)
    old = _alert()
    store.record(old, "sentinel/demo/alerts/garbage_exposed/cam1", None)

    seen: list[set[str]] = []
    for rev in revisions[1:]:
        with engine.begin() as conn:
            command.upgrade(_alembic(conn), rev)
        seen.append(_tables(engine))
        assert store.alert(old.alert_id) is not None, rev
    assert seen == sorted(seen, key=len) and len(seen[-1]) > 2  # every revision added tables
    for rev in reversed(revisions[:-1]):  # down one revision at a time, then up again
        with engine.begin() as conn:
            command.downgrade(_alembic(conn), rev)
            command.upgrade(_alembic(conn), "head")
    with engine.begin() as conn:
        command.downgrade(_alembic(conn), "base")
    assert _tables(engine) == set()
    migrate(engine)  # what `sentinel run` does: straight to head
    assert _tables(engine) == seen[-1]
    engine.dispose()


def test_models_and_migrations_agree_on_postgresql(pg: PgDatabase) -> None:
    engine = make_engine(pg.url)
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], (
        "the models and the migrations differ on PostgreSQL (write a migration):\n"
        + "\n".join(map(str, diff))
    )
    engine.dispose()


def test_two_processes_migrating_at_once_both_succeed(pg: PgDatabase) -> None:
    """Daemon and CLI starting together on an empty database: an advisory lock makes them take turns."""
    engines = [make_engine(pg.url) for _ in range(3)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(engines))

    def run(engine: sa.Engine) -> None:
        start.wait()
        try:
            migrate(engine)
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert {"alerts", "outbox", "cases"} <= _tables(engines[0])
    for e in engines:
        e.dispose()


def test_timestamps_keep_their_instant(pg: PgDatabase) -> None:
    """TIMESTAMPTZ on PostgreSQL: what goes in +08:00 comes back as the same instant, whatever the session
    time zone; newest first across offsets."""
    engine = make_engine(pg.url)
    migrate(engine)
    store = AlertStore(engine)
    t0 = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
    early = _alert(when=t0)
    late = _alert(when=(t0 + timedelta(minutes=5)).astimezone(ZoneInfo("America/New_York")))
    for a in (late, early):
        store.record(a, "sentinel/demo/alerts/garbage_exposed/cam1", None)
    rows = store.alerts()
    assert [r.id for r in rows] == [late.alert_id, early.alert_id]
    assert rows[1].detected_at.tzinfo is not None and rows[1].detected_at == t0
    assert rows[1].payload["detected_at"] == t0.isoformat()  # JSON payload as published
    engine.dispose()


def test_outbox_order_with_concurrent_writers(pg: PgDatabase) -> None:
    """Alerts recorded from several threads: every one gets its outbox row, ids never repeat, and the
    drain order (outbox id) matches commit order per writer."""
    engine = make_engine(pg.url)
    migrate(engine)
    store = AlertStore(engine)
    per_writer: dict[int, list[str]] = {i: [] for i in range(4)}

    def writer(i: int) -> None:
        for _ in range(15):
            a = _alert(camera=f"cam{i}")
            store.record(a, f"sentinel/demo/alerts/garbage_exposed/cam{i}", None)
            per_writer[i].append(a.alert_id)

    threads = [threading.Thread(target=writer, args=(i,)) for i in per_writer]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert store.outbox_depth() == 60
    pending = store.pending(limit=1000)
    assert [p.id for p in pending] == sorted({p.id for p in pending})
    for i, ids in per_writer.items():
        order = [json.loads(p.payload)["alert_id"] for p in pending if p.topic.endswith(f"/cam{i}")]
        assert order == ids  # in order per camera
    store.mark_sent([p.id for p in pending[:10]])
    assert store.outbox_depth() == 50 and store.pending(limit=1)[0].id == pending[10].id
    engine.dispose()


def test_a_concurrent_writer_waits_for_the_case_row(pg: PgDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL honours SELECT ... FOR UPDATE: while a command changes a case, another writer cannot touch
    the row (here it gives up after lock_timeout); afterwards it sees the committed change."""
    engine = make_engine(pg.url)
    migrate(engine)
    store = AlertStore(engine)
    clock_now = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
    types = default_event_types()
    types["garbage_exposed"] = types["garbage_exposed"].model_copy(update={"auto_register": True})
    cases = CaseEngine(session_factory(engine), types, lambda: clock_now, "sentinel/demo", tz=TZ)
    alert = _alert(when=clock_now)
    store.record(alert, "sentinel/demo/alerts/garbage_exposed/cam1", None)
    change = cases.on_alert(alert, ROUTING, False)
    real = case_engine_module.next_state
    blocked: list[str] = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        with psycopg.connect(**_psycopg_args(pg)) as other:
            other.execute("SET lock_timeout = '500ms'")
            try:
                other.execute("UPDATE cases SET version = version + 1 WHERE id = %s", (change.case_id,))
            except psycopg.errors.LockNotAvailable as exc:
                blocked.append(type(exc).__name__)
        return real(*args, **kwargs)

    monkeypatch.setattr(case_engine_module, "next_state", racing)
    assert cases.act(change.case_id, "accept", "w1").state == "accepted"
    assert blocked == ["LockNotAvailable"]
    with session_factory(engine)() as s:
        row = s.get(CaseRow, change.case_id)
        assert row is not None and row.state == "accepted"
    engine.dispose()


def test_escalation_timer_fires_after_a_restart_on_postgresql(pg: PgDatabase) -> None:
    """A case filed by one engine escalates when a new engine (after a daemon restart) ticks past its deadline."""
    engine = make_engine(pg.url)
    migrate(engine)
    store = AlertStore(engine)
    now = [datetime(2026, 11, 23, 9, 0, tzinfo=TZ)]
    types = default_event_types()
    types["garbage_exposed"] = types["garbage_exposed"].model_copy(
        update={"auto_register": True, "working_hours": False, "deadline": 60.0}
    )
    alert = _alert(when=now[0])
    store.record(alert, "sentinel/demo/alerts/garbage_exposed/cam1", None)
    first = CaseEngine(session_factory(engine), types, lambda: now[0], "sentinel/demo", tz=TZ)
    case_id = first.on_alert(alert, ROUTING, False).case_id
    engine.dispose()  # the daemon dies

    engine = make_engine(pg.url)
    migrate(engine)
    second = CaseEngine(session_factory(engine), types, lambda: now[0], "sentinel/demo", tz=TZ)
    now[0] += timedelta(seconds=61)
    fired = [(c.case_id, c.action, c.payload["assignee"]) for c in second.tick()]
    assert (case_id, "escalate", "gl1") in fired
    assert second.tick() == []  # fired once
    engine.dispose()


def _psycopg_args(pg: PgDatabase) -> dict[str, Any]:
    u = pg.sa_url
    args: dict[str, Any] = {"host": u.host, "port": u.port or 5432, "dbname": u.database, "autocommit": True}
    if u.username:
        args["user"] = u.username
    if u.password:
        args["password"] = u.password
    return args


def test_the_engine_reaches_the_server(pg: PgDatabase) -> None:
    """Sanity: the engine talks to the server it was given (psycopg 3), and TIMESTAMPTZ round-trips."""
    engine = make_engine(pg.url)
    with engine.connect() as conn:
        version = conn.execute(sa.text("SHOW server_version")).scalar_one()
        now = conn.execute(sa.text("SELECT now()")).scalar_one()
    assert int(str(version).split(".")[0]) >= 12
    assert abs((now - datetime.now(UTC)).total_seconds()) < 60
    engine.dispose()
