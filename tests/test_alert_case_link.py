"""An alert goes out before its case exists, so it carries `case_id: null`; the link is the case message's
`alert_ids` on `{prefix}/cases/{grid}/{case_id}`, which arrives after the alert (docs/mqtt.md). Through the
daemon's own intake and case engine, a real Mosquitto and a real SQLite file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema

from tests.mqtt_helpers import Recorder
from tests.support.servers import Mosquitto
from tests.test_public_url import ALERT_SCHEMA, CAMERA, PREFIX, REPO, crowd_event, daemon

CASE_SCHEMA = json.loads((REPO / "sentinel" / "data" / "case.schema.json").read_text())


def test_the_case_message_naming_the_alert_follows_the_alert(tmp_path: Path) -> None:
    with Mosquitto() as broker, daemon(tmp_path, broker, "") as services:
        rec = Recorder(broker.port, f"{PREFIX}/#")
        try:
            rec.wait_for(lambda m: m.topic == f"{PREFIX}/status", 15)  # subscribed, the publisher is up
            assert services.cases is not None  # cases are on by default
            alert = services.intake.accept(crowd_event(), None, CAMERA)
            assert alert is not None and alert.case_id is None
            alert_topic = f"{PREFIX}/alerts/crowd_gathering/cam1"
            rec.wait_for(lambda m: m.topic == alert_topic, 15)
            case_msgs = rec.wait_for(
                lambda m: m.topic.startswith(f"{PREFIX}/cases/") and alert.alert_id in m.json()["alert_ids"],
                15,
            )
            time.sleep(0.5)  # a later repeat of either would show below
            messages = list(rec.messages)
        finally:
            rec.close()
        row = services.store.alert(alert.alert_id)
    topics = [m.topic for m in messages]
    first_alert = topics.index(alert_topic)
    first_case = messages.index(case_msgs[0])
    assert first_alert < first_case, topics
    published = messages[first_alert].json()
    jsonschema.validate(published, ALERT_SCHEMA)
    assert published["alert_id"] == alert.alert_id and published["case_id"] is None
    case = case_msgs[0].json()
    jsonschema.validate(case, CASE_SCHEMA)
    assert case_msgs[0].topic == f"{PREFIX}/cases/unassigned/{case['case_id']}", case_msgs[0].topic
    assert case["alert_ids"] == [alert.alert_id] and case["action"] == "create", case
    # the stored alert is what was sent: it is not rewritten with the case id afterwards
    assert row is not None and row.payload["case_id"] is None
