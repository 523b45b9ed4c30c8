"""Alerts are stored before they are sent; a broker that is down delays them but loses none (real mosquitto)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import pytest
from sqlalchemy import func, select

from sentinel.alerts.builder import build_alert, new_alert_id
from sentinel.alerts.store import AlertStore
from sentinel.config.event_types import default_event_types
from sentinel.config.models import CameraConfig
from sentinel.detect.rules import RuleEvent, SeenObject
from sentinel.mqtt.publisher import BrokerAddress, MqttPublisher
from sentinel.storage.db import make_engine, migrate
from sentinel.storage.outbox import OutboxRow
from tests.mqtt_helpers import Recorder
from tests.support.servers import Mosquitto

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[1] / "sentinel" / "data" / "alert.schema.json").read_text()
)
TZ = ZoneInfo("Asia/Shanghai")
CAMERA = CameraConfig.model_validate(
    {
        "id": "cam1",
        "name": "北门",
        "source": "/x.mp4",
        "location": {"lon": 116.4, "lat": 39.9},
        "grid": "110101001002003",
    }
)


def make_alert(store: AlertStore, n: int) -> str:
    event = RuleEvent("cam1", "count_in_zone", "crowd_gathering", "plaza", 1000.0 + n, 1010.0 + n, 5, 0.8,
                      [SeenObject("person", 0.8, (0.1, 0.2, 0.3, 0.9), 7)], None)  # fmt: skip
    alert_id = new_alert_id()
    alert = build_alert(alert_id, "demo", event, CAMERA, default_event_types()["crowd_gathering"], TZ, None)
    store.record(alert, "sentinel/demo/alerts/crowd_gathering/cam1", None)
    return alert_id


@pytest.fixture
def store(db_url: str) -> Iterator[AlertStore]:  # SQLite and PostgreSQL (tests/conftest.py)
    engine = make_engine(db_url)
    migrate(engine)
    yield AlertStore(engine)
    engine.dispose()


def test_alert_json_matches_schema(store: AlertStore) -> None:
    alert_id = make_alert(store, 0)
    row = store.alert(alert_id)
    assert row is not None
    jsonschema.validate(row.payload, SCHEMA)
    assert row.payload["grid"] == {
        "street": "110101001",
        "community": "110101001002",
        "grid": "110101001002003",
        "name": None,
    }
    assert row.payload["detected_at"].endswith("+08:00")
    assert store.outbox_depth() == 1


def test_schema_rejects_a_wrong_payload(store: AlertStore) -> None:
    row = store.alert(make_alert(store, 0))
    assert row is not None
    bad = dict(row.payload, severity="apocalyptic")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_outbox_survives_broker_outage_in_order(store: AlertStore) -> None:
    broker = Mosquitto()
    port = broker.port
    try:
        pub = MqttPublisher(BrokerAddress.parse(broker.url), "sentinel/demo", store, client_id="t-pub")
        pub.start()
        assert pub.wait_connected(10)
        recorder = Recorder(port, "sentinel/demo/alerts/#")
        first = [make_alert(store, i) for i in range(3)]
        pub.outbox_notify()
        recorder.wait_for(lambda m: True, timeout=10, count=3)
        deadline = time.monotonic() + 10
        while store.outbox_depth() and time.monotonic() < deadline:  # PUBACKs processed
            time.sleep(0.05)
        assert store.outbox_depth() == 0

        broker.stop()  # outage: alerts keep coming and must wait in the outbox
        recorder.close()
        deadline = time.monotonic() + 10
        while pub.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pub.connected.is_set()
        during = [make_alert(store, 10 + i) for i in range(5)]
        pub.outbox_notify()
        time.sleep(1.0)
        assert store.outbox_depth() == 5

        broker.start()
        recorder = Recorder(port, "sentinel/demo/alerts/#")
        got = recorder.wait_for(lambda m: m.json()["alert_id"] in during, timeout=90, count=5)
        ids = []
        for m in got:
            if m.json()["alert_id"] not in ids:
                ids.append(m.json()["alert_id"])
        assert ids == during  # in order, none lost (repeats would carry the same id)
        for m in got:
            jsonschema.validate(m.json(), SCHEMA)
        deadline = time.monotonic() + 10
        while store.outbox_depth() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.outbox_depth() == 0
        assert first  # delivered before the outage
        recorder.close()
        pub.stop()
    finally:
        broker.close()


def test_status_retained_and_offline_on_clean_stop(store: AlertStore) -> None:
    with Mosquitto() as broker:
        pub = MqttPublisher(BrokerAddress.parse(broker.url), "sentinel/demo", store, client_id="t-pub2")
        pub.start()
        assert pub.wait_connected(10)
        pub.set_retained(pub.topics.camera_status("cam1"), {"state": "online"})
        time.sleep(0.5)
        late = Recorder(broker.port, "sentinel/demo/#")  # subscribes after the fact: sees retained values
        status = late.wait_for(lambda m: m.topic == "sentinel/demo/cameras/cam1/status", timeout=5)[0]
        assert status.retain and status.json() == {"state": "online"}
        assert late.wait_for(lambda m: m.topic == "sentinel/demo/status", timeout=5)[0].payload == b"online"
        late.close()
        pub.stop()
        after = Recorder(broker.port, "sentinel/demo/status")
        msg = after.wait_for(lambda m: True, timeout=5)[0]
        assert msg.payload == b"offline" and msg.retain
        after.close()


def test_prune_sent_removes_only_old_sent_rows(store: AlertStore) -> None:
    now = datetime.now(UTC)
    alert_id = make_alert(store, 0)  # an alert and its outbox row
    with store.sessions.begin() as s:
        alert_row = s.scalars(select(OutboxRow).where(OutboxRow.alert_id == alert_id)).one()
        alert_row.sent_at = now - timedelta(days=20)
        for n, (created, sent) in enumerate(
            [(40, 40), (9, 8), (8, 7.01), (8, 6.99), (1, 1), (0, None), (90, None)] + [(30, 30)] * 11
        ):
            s.add(
                OutboxRow(
                    topic="sentinel/demo/commands/replies", payload=f'{{"n": {n}}}', qos=1, retain=False,
                    alert_id=None, created_at=now - timedelta(days=created), attempts=1,
                    sent_at=None if sent is None else now - timedelta(days=sent),
                )
            )  # fmt: skip
    assert store.prune_sent(7, now=now, batch=5) == 1 + 3 + 11  # in batches of 5: all of them
    with store.sessions() as s:
        left = sorted(
            json.loads(p)["n"] for p in s.scalars(select(OutboxRow.payload)).all() if p.startswith('{"n"')
        )
        assert left == [3, 4, 5, 6]  # sent within the week, or never sent (however old)
        assert (
            s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.alert_id.is_not(None))) == 0
        )
    assert store.alert(alert_id) is not None  # the alert itself stays
    assert store.outbox_depth() == 2  # the unsent rows are still waiting
    assert store.prune_sent(7, now=now) == 0
