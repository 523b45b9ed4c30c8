"""The case webhook on a real SQLite file and a real HTTP receiver (http.server on 127.0.0.1, a free port):
deliveries are written with the case change, posted signed with an idempotency key, retried with backoff on
5xx and while the receiver is down, given up on a refusal, and survive a restart. The config's checks too."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from shapely.geometry import box

from sentinel.alerts.schema import AlertSnapshot
from sentinel.alerts.store import AlertStore
from sentinel.cases import engine as case_engine_module
from sentinel.cases.engine import CaseEngine
from sentinel.cases.models import CaseRow
from sentinel.cases.webhook.queue import WebhookQueue, change_of
from sentinel.cases.webhook.rows import WebhookDeliveryRow
from sentinel.cases.webhook.sender import WebhookSender
from sentinel.cli.main import main
from sentinel.config.webhook import WebhookConfig
from sentinel.geo.cells import GridCell, GridCells
from sentinel.storage.db import make_engine, migrate, session_factory
from tests.support.roster import case_roster
from tests.support.servers import free_port
from tests.test_case_engine import GRID, MONDAY_9, ROUTING, TZ, Clock, event_types, make_alert

SECRET = "wh-secret-7f3a9c"  # the signing key, read from SENTINEL_TEST_WEBHOOK_KEY
SECRET_ENV = "SENTINEL_TEST_WEBHOOK_KEY"


# ---------------------------------------------------------------- the receiver


@dataclass
class Receiver:
    """An HTTP endpoint that answers the statuses of `script` in turn, then 200; keeps every request."""

    script: list[int]
    port: int = 0
    requests: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)
    retry_after: str | None = None
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.script.pop(0) if receiver.script else 200
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body, status))
                self.send_response(status)
                if receiver.retry_after is not None:
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook?token=query-token-123"

    def accepted(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _h, body, status in self.requests if 200 <= status < 300]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver([500, 500]).start()
    yield r
    r.stop()


# ---------------------------------------------------------------- the world


def cells() -> GridCells:
    return GridCells([
        GridCell(GRID[:9], "东华门街道", "street", None, box(116.3, 39.8, 116.5, 40.0)),
        GridCell(GRID[:12], "多福巷社区", "community", GRID[:9], box(116.3, 39.8, 116.5, 40.0)),
        GridCell(GRID, "多福巷第三网格", "grid", GRID[:12], box(116.3, 39.8, 116.5, 40.0)),
    ])  # fmt: skip


@dataclass
class Site:
    path: Path
    clock: Clock
    config: WebhookConfig
    store: AlertStore
    cases: CaseEngine
    sender: WebhookSender

    def alert(self, **where: Any) -> Any:
        alert = make_alert(event_types(), self.clock.now, **where)
        alert = alert.model_copy(
            update={"snapshot": AlertSnapshot(url=f"/media/snapshots/{alert.alert_id}.jpg", sha256="0" * 64)}
        )
        self.store.record(alert, f"sentinel/demo/alerts/{alert.event_type}/{alert.camera_id}", None)
        return alert

    def rows(self) -> list[WebhookDeliveryRow]:
        with session_factory(self.store.engine)() as s:
            return list(s.scalars(sa.select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.id)))

    def restart(self) -> None:
        """A new database engine, case engine and sender on the same file, as after a kill -9."""
        self.store.engine.dispose()
        db = make_engine(f"sqlite:///{self.path}")
        migrate(db)
        self.store = AlertStore(db)
        self.cases, self.sender = _engines(db, self.clock, self.config)


def _engines(db: sa.Engine, clock: Clock, config: WebhookConfig) -> tuple[CaseEngine, WebhookSender]:
    sessions = session_factory(db)
    queue = WebhookQueue(config, "demo", case_roster(), cells())
    cases = CaseEngine(sessions, event_types(), clock, "sentinel/demo", tz=TZ, webhook=queue)
    return cases, WebhookSender(sessions, config, clock=clock)


def make_site(tmp_path: Path, url: str, db_url: str | None = None, **settings: Any) -> Site:
    config = WebhookConfig.model_validate({
        "url": url, "secret_env": SECRET_ENV, "retry_initial": 10, "retry_max": 300, "timeout": 2,
        "console_url": "https://sentinel.example", **settings,
    })  # fmt: skip
    path = tmp_path / "sentinel.db"
    db = make_engine(db_url or f"sqlite:///{path}")
    migrate(db)
    clock = Clock(MONDAY_9)
    return Site(path, clock, config, AlertStore(db), *_engines(db, clock, config))


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


def signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- delivery


def test_fails_twice_then_accepts_the_case_arrives_once(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture, db_url: str
) -> None:  # on SQLite and PostgreSQL (tests/conftest.py)
    caplog.set_level(logging.DEBUG)
    site = make_site(tmp_path, receiver.url, db_url)
    alert = site.alert()
    change = site.cases.on_alert(alert, ROUTING, False)  # auto-registered: created and dispatched to w1
    assert change.state == "dispatched"
    [row] = site.rows()
    assert (row.change, row.recipient_id, row.contact, row.attempts) == ("dispatch", "w1", "13800000000", 0)

    assert site.sender.send_due() == 1  # 500
    [row] = site.rows()
    first_wait = row.next_attempt_at - site.clock.now
    assert (
        row.attempts == 1 and row.delivered_at is None and row.last_error == "HTTP 500 Internal Server Error"
    )
    assert timedelta(seconds=5) <= first_wait <= timedelta(seconds=10)  # retry_initial 10 s, jittered
    assert site.sender.send_due() == 0  # not due yet: no request
    assert len(receiver.requests) == 1

    site.clock.now = row.next_attempt_at
    assert site.sender.send_due() == 1  # 500 again
    [row] = site.rows()
    second_wait = row.next_attempt_at - site.clock.now
    assert timedelta(seconds=10) <= second_wait <= timedelta(seconds=20)  # doubled, jittered
    site.clock.now = row.next_attempt_at
    assert site.sender.send_due() == 1  # 200
    site.clock.advance(days=1)
    assert site.sender.send_due() == 0

    [row] = site.rows()
    assert row.delivered_at is not None and row.attempts == 3 and row.last_error is None
    assert [status for _h, _b, status in receiver.requests] == [500, 500, 200]
    [body] = receiver.accepted()  # the case arrives exactly once
    keys = {headers["idempotency-key"] for headers, _b, _s in receiver.requests}
    assert keys == {row.key} == {body["delivery_id"]}  # every retry carries the same key
    for headers, raw, _status in receiver.requests:
        assert headers["x-sentinel-signature"] == signature(raw)
        assert (
            headers["content-type"].startswith("application/json")
            and headers["x-sentinel-event"] == "dispatch"
        )

    assert body["case_id"] == change.case_id and body["number"] == change.number
    assert (body["change"], body["action"], body["state"]) == ("dispatch", "create", "dispatched")
    assert body["event_type"]["key"] == "garbage_exposed" and body["event_type"]["name"] == alert.name
    assert body["grid"] == {
        "grid": GRID, "grid_name": "多福巷第三网格", "community": GRID[:12], "community_name": "多福巷社区",
        "street": GRID[:9], "street_name": "东华门街道",
    }  # fmt: skip
    assert body["worker"] == {"id": "w1", "name": "W1", "title": None, "phone": "13800000000", "wecom": None}
    assert body["deadline"] == (MONDAY_9 + timedelta(hours=4)).isoformat(timespec="seconds")
    assert body["deadline"].endswith("+08:00")  # the site's time zone
    assert body["location"] == {"lat": 39.90, "lon": 116.40}
    assert body["snapshot_url"] == f"https://sentinel.example/media/snapshots/{alert.alert_id}.jpg"
    assert "多福巷第三网格" in body["text"] and f"案件{change.number}" in body["text"]
    assert SECRET not in caplog.text and "query-token-123" not in caplog.text
    assert "retrying" in caplog.text and caplog.text.count("HTTP 500") == 1  # logged once, not per retry
    site.store.engine.dispose()


def test_a_refusal_is_given_up_and_not_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    refusing = Receiver([400]).start()
    try:
        site = make_site(tmp_path, refusing.url)
        site.cases.on_alert(site.alert(), ROUTING, False)
        assert site.sender.send_due() == 1
        for _ in range(5):
            site.clock.advance(hours=1)
            assert site.sender.send_due() == 0
    finally:
        refusing.stop()
    [row] = site.rows()
    assert row.gave_up_at is not None and row.delivered_at is None and row.attempts == 1
    assert row.last_error == "HTTP 400 Bad Request"
    assert len(refusing.requests) == 1 and site.sender.pending() == 0
    given_up = [r for r in caplog.records if "given up" in r.getMessage()]
    assert len(given_up) == 1 and given_up[0].levelno == logging.ERROR
    assert SECRET not in caplog.text


def test_429_waits_for_retry_after_and_attempts_are_bounded(tmp_path: Path) -> None:
    busy = Receiver([429, 503, 503]).start()
    busy.retry_after = "120"
    try:
        site = make_site(tmp_path, busy.url, max_attempts=3)
        site.cases.on_alert(site.alert(), ROUTING, False)
        site.sender.send_due()
        [row] = site.rows()
        assert row.next_attempt_at - site.clock.now >= timedelta(seconds=120)  # not before Retry-After
        for _ in range(2):
            site.clock.now = row.next_attempt_at
            assert site.sender.send_due() == 1
            [row] = site.rows()
        site.clock.advance(days=1)
        assert site.sender.send_due() == 0
    finally:
        busy.stop()
    assert (
        row.attempts == 3 and row.gave_up_at is not None and row.last_error == "HTTP 503 Service Unavailable"
    )
    assert len(busy.requests) == 3 and busy.accepted() == []


def test_receiver_down_then_up_is_delivered_after(tmp_path: Path) -> None:
    port = free_port()
    site = make_site(tmp_path, f"http://127.0.0.1:{port}/hook", retry_initial=0.05, retry_max=0.2)
    site.sender = WebhookSender(session_factory(site.store.engine), site.config, poll=0.05)  # the real clock
    site.cases.on_alert(site.alert(), ROUTING, False)
    site.sender.start()
    up = Receiver([], port=port)
    try:
        _wait(lambda: site.rows()[0].attempts >= 2, "two refused attempts")
        assert (site.rows()[0].last_error or "").startswith("cannot connect")
        assert site.sender.last_error is not None
        up.start()  # the receiver comes up on the same port
        _wait(lambda: site.rows()[0].delivered_at is not None, "delivery after the receiver came up")
    finally:
        site.sender.stop()
        up.stop()
    assert len(up.accepted()) == 1 and site.sender.last_error is None and site.sender.pending() == 0


def test_a_queued_delivery_survives_a_restart(tmp_path: Path, receiver: Receiver) -> None:
    receiver.script.clear()
    site = make_site(tmp_path, receiver.url)
    change = site.cases.on_alert(site.alert(), ROUTING, False)
    site.restart()  # nothing was sent before the "kill"
    assert len(site.rows()) == 1 and receiver.requests == []
    assert site.sender.send_due() == 1
    [body] = receiver.accepted()
    assert body["case_id"] == change.case_id and site.rows()[0].delivered_at is not None


def test_the_case_timeline_queues_what_events_name(tmp_path: Path, receiver: Receiver) -> None:
    receiver.script.clear()
    site = make_site(tmp_path, receiver.url)
    change = site.cases.on_alert(site.alert(), ROUTING, False)
    site.cases.act(change.case_id, "accept", "w1")  # not a webhook event
    site.clock.advance(hours=2)
    assert [c.action for c in site.cases.tick()] == ["remind"]
    site.clock.advance(hours=2, seconds=1)
    assert [c.action for c in site.cases.tick()] == ["escalate"]
    rows = site.rows()
    assert [(r.change, r.recipient_id) for r in rows] == [
        ("dispatch", "w1"),
        ("reminder", "w1"),
        ("escalate", "gl1"),
    ]
    assert site.sender.send_due() == 3
    assert [b["change"] for b in receiver.accepted()] == ["dispatch", "reminder", "escalate"]  # oldest first


def test_a_change_that_fails_queues_no_delivery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = make_site(tmp_path, "http://127.0.0.1:9/hook")
    alert = site.alert()
    real = case_engine_module.announce

    def then_fail(*args: Any) -> Any:  # the delivery is added, then the transaction fails before commit
        real(*args)
        raise RuntimeError("disk full")

    monkeypatch.setattr(case_engine_module, "announce", then_fail)
    with pytest.raises(RuntimeError):
        site.cases.on_alert(alert, ROUTING, False)
    assert site.rows() == []
    with session_factory(site.store.engine)() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(CaseRow)) == 0
    monkeypatch.setattr(case_engine_module, "announce", real)
    site.cases.on_alert(alert, ROUTING, False)
    assert [r.change for r in site.rows()] == ["dispatch"]


def test_without_a_webhook_section_nothing_is_queued(tmp_path: Path) -> None:
    site = make_site(tmp_path, "http://127.0.0.1:9/hook")
    site.cases = CaseEngine(
        session_factory(site.store.engine), event_types(), site.clock, "sentinel/demo", tz=TZ
    )
    site.cases.on_alert(site.alert(), ROUTING, False)
    assert site.rows() == []


def test_change_names() -> None:
    assert change_of("create", None, "dispatched") == "dispatch"
    assert change_of("create", None, "pending_review") == "create"
    assert change_of("confirm", "pending_review", "dispatched") == "dispatch"
    assert change_of("remind", "accepted", "accepted") == "reminder"
    assert change_of("close", "verifying", "closed") == "close"
    assert change_of("accept", "dispatched", "accepted") is None
    assert change_of("extend_request", "accepted", "accepted") is None


# ---------------------------------------------------------------- config


def _check(tmp_path: Path, webhook: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "sentinel.yaml"
    path.write_text(f"site:\n  id: demo\nwebhook:\n{webhook}", encoding="utf-8")
    code = main(["check", "--config", str(path)])
    out = capsys.readouterr()
    return code, out.err + out.out


@pytest.mark.parametrize(
    ("webhook", "line", "key", "message"),
    [
        ("  url: ftp://gateway.example/hook\n", 4, "webhook.url", "http:// or https://"),
        ("  url: https://\n", 4, "webhook.url", "with a host"),
        ("  url: https://ops:hunter2@gateway.example/hook\n", 4, "webhook.url", "use secret_env"),
        ("  url: https://gw.example/h\n  secret_env: NOT_SET_WEBHOOK\n", 5, "webhook.secret_env", "not set"),
        ("  url: https://gw.example/h\n  secret_env: wh-secret-7f3a9c\n", 5, "webhook.secret_env", "name of"),
        ("  url: https://gw.example/h\n  events: [dispatch, sms]\n", 5, "webhook.events[1]", "dispatch"),
        ("  url: https://gw.example/h\n  max_attempts: 0\n", 5, "webhook.max_attempts", "greater than"),
    ],
)
def test_sentinel_check_names_the_line_of_a_bad_webhook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], webhook: str, line: int, key: str, message: str
) -> None:
    code, text = _check(tmp_path, webhook, capsys)
    assert code == 2
    assert f"sentinel.yaml:{line}: {key}: " in text and message in text, text
    assert "hunter2" not in text and SECRET not in text and "Traceback" not in text


def test_sentinel_check_accepts_a_good_webhook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _check(tmp_path, f"  url: https://gw.example/hook\n  secret_env: {SECRET_ENV}\n", capsys)
    assert code == 0, text
    assert SECRET not in text
    config = WebhookConfig(url="https://gw.example/hook", secret_env=SECRET_ENV)
    assert config.events == ["dispatch", "escalate", "reminder", "close"] and SECRET not in repr(config)


def _wait(condition: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# ---------------------------------------------------------------- the migration


def test_migration_0010_matches_the_model_and_goes_down_and_up(tmp_path: Path) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.config import Config as AlembicConfig
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from sentinel.storage.db import MIGRATIONS, Base

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    revision = ScriptDirectory.from_config(cfg).get_revision("0010")
    assert revision is not None and revision.down_revision == "0009"
    db = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(db)
    with db.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diff if "webhook_deliveries" in str(d)] == []
    with db.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0009")
    assert "webhook_deliveries" not in sa.inspect(db).get_table_names()
    migrate(db)
    assert "webhook_deliveries" in sa.inspect(db).get_table_names()
    db.dispose()


# ---------------------------------------------------------------- in the daemon


def test_the_daemon_sends_a_case_change_through_the_webhook(tmp_path: Path, receiver: Receiver) -> None:
    from datetime import UTC, datetime

    from sentinel.config.loader import load_config
    from sentinel.daemon.compose import compose
    from sentinel.daemon.supervisor import Supervisor

    receiver.script[:] = [503]
    path = tmp_path / "sentinel.yaml"
    path.write_text(
        "site: {id: demo}\nmqtt: {embedded_port: 0}\nstorage: {data_dir: data}\nconsole: {enabled: false}\n"
        f"cameras: []\nwebhook:\n  url: {receiver.url}\n  secret_env: {SECRET_ENV}\n  retry_initial: 0.05\n",
        encoding="utf-8",
    )
    services = compose(load_config(path))
    assert services.webhook is not None and services.cases is not None
    supervisor = Supervisor(services)
    supervisor.start()
    stop = threading.Event()
    loop = threading.Thread(target=supervisor.run, args=(stop,), name="supervisor", daemon=True)
    loop.start()
    try:
        alert = make_alert(services.cases.event_types, datetime.now(UTC))
        services.store.record(alert, f"sentinel/demo/alerts/{alert.event_type}/{alert.camera_id}", None)
        change = services.cases.on_alert(alert, ROUTING, confirmed=True)
        _wait(lambda: services.webhook is not None and services.webhook.pending() == 0, "the delivery")
        metrics = services.metrics.render().decode()
    finally:
        stop.set()
        loop.join(30)
        supervisor.stop()
    [body] = receiver.accepted()
    assert body["case_id"] == change.case_id and body["change"] == "dispatch"
    assert body["worker"]["id"] == "w1" and body["worker"]["phone"] is None  # no roster: the id only
    assert [status for _h, _b, status in receiver.requests] == [503, 200]
    assert 'sentinel_webhook_attempts_total{outcome="delivered"} 1.0' in metrics
    assert 'sentinel_webhook_attempts_total{outcome="retry"} 1.0' in metrics
    assert "sentinel_webhook_pending 0.0" in metrics
