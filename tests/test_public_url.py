"""`console.public_url`: published alerts carry absolute links (`snapshot.href`, `clip.href`) next to the console
paths (`url`, unchanged), through the daemon's own composition (compose + supervisor loop in this process, a
real Mosquitto, a real SQLite file); `sentinel check` names the line of a bad address."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from sqlalchemy import select

from sentinel.cases.webhook.rows import WebhookDeliveryRow
from sentinel.cli.main import main
from sentinel.config.loader import load_config
from sentinel.config.models import CameraConfig
from sentinel.config.sections import ConsoleConfig
from sentinel.daemon.compose import compose
from sentinel.daemon.messages import ClipMsg
from sentinel.daemon.services import Services
from sentinel.daemon.supervisor import Supervisor
from sentinel.detect.rules import RuleEvent, SeenObject
from sentinel.pipeline import ClipPlan
from sentinel.pipeline.snapshot import render_snapshot
from tests.mqtt_helpers import Recorder
from tests.support.servers import Mosquitto

REPO = Path(__file__).resolve().parents[1]
ALERT_SCHEMA = json.loads((REPO / "sentinel" / "data" / "alert.schema.json").read_text())
SITE = "links"
PREFIX = f"sentinel/{SITE}"
CAMERA = CameraConfig.model_validate(
    {"id": "cam1", "source": "/x.mp4", "location": {"lon": 116.4, "lat": 39.9}}
)


@contextmanager
def daemon(tmp_path: Path, broker: Mosquitto, console: str, extra: str = "") -> Iterator[Services]:
    """`sentinel run` without cameras: compose() and the supervisor's loop in a thread of this process;
    `console`: more keys of the `console:` mapping; `extra`: more config lines."""
    path = tmp_path / "sentinel.yaml"
    path.write_text(
        f'site: {{id: {SITE}}}\nmqtt: {{url: "{broker.url}"}}\nstorage: {{data_dir: data}}\n'
        f"console: {{enabled: false{console}}}\ncameras: []\n{extra}",
        encoding="utf-8",
    )
    services = compose(load_config(path))
    supervisor = Supervisor(services)
    supervisor.start()
    stop = threading.Event()
    loop = threading.Thread(target=supervisor.run, args=(stop,), name="supervisor", daemon=True)
    loop.start()
    try:
        yield services
    finally:
        stop.set()
        loop.join(30)
        supervisor.stop()


def crowd_event() -> RuleEvent:
    now = time.time()
    return RuleEvent("cam1", "count_in_zone", "crowd_gathering", "plaza", now - 5, now, 3, 0.8,
                     [SeenObject("person", 0.8, (0.1, 0.2, 0.3, 0.9), 7)], None)  # fmt: skip


def raise_alert_with_clip(services: Services, rec: Recorder) -> tuple[dict[str, Any], dict[str, Any]]:
    """An alert with a snapshot and a clip on its way, then the clip written: both messages as received."""
    rec.wait_for(lambda m: m.topic == f"{PREFIX}/status", 15)  # subscribed, and the publisher is up
    jpeg = render_snapshot(np.full((120, 160, 3), 90, np.uint8), [], None)
    event = crowd_event()
    alert = services.intake.accept(
        event, jpeg, CAMERA, clip=ClipPlan(event.detected_at - 4, event.detected_at + 4)
    )
    assert alert is not None
    topic = f"{PREFIX}/alerts/crowd_gathering/cam1"
    first = rec.wait_for(lambda m: m.topic == topic, 15)[0].json()
    staged = services.intake.data_dir / "clips" / ".incoming" / f"{alert.alert_id}.mp4"
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.write_bytes(b"\0\0\0\x18ftypmp42")  # only moved and announced here, never decoded
    services.intake.accept_clip(
        ClipMsg(
            0,
            alert.alert_id,
            str(staged),
            "a" * 64,
            event.detected_at - 4,
            event.detected_at + 4,
            "ready",
            None,
        )
    )
    done = rec.wait_for(lambda m: m.topic == f"{topic}/clip", 15)[0].json()
    return first, done


def test_alerts_carry_absolute_links_under_the_public_url(tmp_path: Path) -> None:
    base = "https://gw.example:8443/sentinel"
    with Mosquitto() as broker, daemon(tmp_path, broker, f', public_url: "{base}/"') as services:
        rec = Recorder(broker.port, f"{PREFIX}/#")
        try:
            first, done = raise_alert_with_clip(services, rec)
        finally:
            rec.close()
    for payload in (first, done):
        jsonschema.validate(payload, ALERT_SCHEMA)
        snap = payload["snapshot"]
        assert snap["url"].startswith("/media/snapshots/") and snap["href"] == base + snap["url"], snap
    assert first["clip"]["state"] == "pending" and first["clip"]["url"].startswith("/media/clips/")
    assert first["clip"]["href"] == base + first["clip"]["url"]
    assert done["clip"]["state"] == "ready" and done["clip"]["href"] == base + done["clip"]["url"]
    # the link names a file the console serves: the clip was moved to where its url points
    assert (tmp_path / "data" / done["clip"]["url"].removeprefix("/media/")).is_file()


def test_without_a_public_url_the_links_are_null_and_the_paths_unchanged(tmp_path: Path) -> None:
    with Mosquitto() as broker, daemon(tmp_path, broker, "") as services:
        rec = Recorder(broker.port, f"{PREFIX}/#")
        try:
            first, done = raise_alert_with_clip(services, rec)
        finally:
            rec.close()
    for payload in (first, done):
        jsonschema.validate(payload, ALERT_SCHEMA)
        assert payload["snapshot"]["href"] is None and payload["snapshot"]["url"].startswith("/media/")
        assert payload["clip"]["href"] is None and payload["clip"]["url"].startswith("/media/clips/")


def test_older_payloads_without_href_stay_valid() -> None:
    snapshot = {"url": "/media/snapshots/2026-12-04/a.jpg", "sha256": "0" * 64}
    defs = ALERT_SCHEMA["$defs"]
    jsonschema.validate(snapshot, {**defs["AlertSnapshot"], "$defs": defs})
    with pytest.raises(jsonschema.ValidationError):  # an href must be absolute
        jsonschema.validate({**snapshot, "href": "/media/x.jpg"}, {**defs["AlertSnapshot"], "$defs": defs})


def test_the_webhook_snapshot_link_falls_back_to_the_public_url(tmp_path: Path) -> None:
    """No `webhook.console_url`: the webhook body's snapshot link is absolute under `console.public_url`."""
    base = "https://sentinel.example"
    hook = "webhook: {url: 'http://127.0.0.1:9/hook', events: [create], max_attempts: 1}\n"  # nobody answers
    with Mosquitto() as broker, daemon(tmp_path, broker, f", public_url: {base}", hook) as services:
        jpeg = render_snapshot(np.full((120, 160, 3), 90, np.uint8), [], None)
        alert = services.intake.accept(crowd_event(), jpeg, CAMERA)
        assert alert is not None and alert.snapshot is not None
        with services.store.sessions() as s:
            bodies = [json.loads(row.payload) for row in s.scalars(select(WebhookDeliveryRow))]
    assert [b["change"] for b in bodies] == ["create"], bodies
    assert bodies[0]["snapshot_url"] == base + alert.snapshot.url


# ---------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ftp://sentinel.example", "http:// or https://"),
        ("https://", "with a host"),
        ("sentinel.example", "http:// or https://"),
        ("https://ops:hunter2@sentinel.example", "no user name or password"),
        ("https://sentinel.example/?token=1", "no query"),
        ("https://sentinel.example/#top", "no query"),
        ("https://sentinel.example:99999", "not a valid URL"),
    ],
)
def test_sentinel_check_names_the_line_of_a_bad_public_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, message: str
) -> None:
    path = tmp_path / "sentinel.yaml"
    path.write_text(f'site:\n  id: demo\nconsole:\n  port: 8080\n  public_url: "{value}"\n', encoding="utf-8")
    assert main(["check", "--config", str(path)]) == 2
    out = capsys.readouterr()
    text = out.err + out.out
    assert "sentinel.yaml:5: console.public_url: " in text and message in text, text
    assert "hunter2" not in text and "Traceback" not in text


def test_a_good_public_url_is_accepted_without_its_trailing_slash() -> None:
    assert ConsoleConfig().public_url is None
    assert ConsoleConfig(public_url="https://sentinel.example/").public_url == "https://sentinel.example"
    assert ConsoleConfig(public_url="http://10.0.0.5:8080/s/").public_url == "http://10.0.0.5:8080/s"
