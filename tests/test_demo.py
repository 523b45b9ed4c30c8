"""The demo as shipped: `sentinel demo` in a subprocess (its own broker port, console port and data dir), watched
on MQTT as a newcomer would watch it. Within 120 s of the start it must show at least four event types, a case
routed to a roster worker with a deadline, an escalation, and a case closed by the camera's re-check after the
demo grid worker's feedback. The footage is built once into var/cache (not counted in the 120 s)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest

from sentinel.demo.footage import RECIPE, build_footage
from sentinel.demo.scenes import VTEST
from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[1]
FOOTAGE = REPO / "var" / "cache" / "demo-footage" / f"v{RECIPE}"
WITHIN = 120.0

pytestmark = pytest.mark.slow


class Watcher:
    """Everything published under sentinel/demo/, as (topic, JSON body)."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-demo-watcher")
        self.client.on_connect = lambda c, *_: c.subscribe("sentinel/demo/#", qos=1)
        self.client.on_message = self._on_message
        self.port = port

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            body = msg.payload.decode(errors="replace")
        with self.lock:
            self.messages.append((msg.topic, body))

    def connect(self, deadline: float) -> None:
        while True:
            try:
                self.client.connect("127.0.0.1", self.port, keepalive=30)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        self.client.loop_start()

    def story(self) -> dict[str, Any]:
        with self.lock:
            messages = list(self.messages)
        alerts = {t.split("/")[3] for t, _ in messages if t.startswith("sentinel/demo/alerts/")}
        cases = [b for t, b in messages if t.startswith("sentinel/demo/cases/") and isinstance(b, dict)]
        routed = [
            c for c in cases
            if c["routing"]["grid_worker"] and c["assignee"] and c["deadline"]["deadline_at"]
        ]  # fmt: skip
        return {
            "event_types": alerts,
            "routed": routed,
            "escalated": [c for c in cases if c["action"] == "escalate"],
            "verified": [
                c
                for c in cases
                if c["action"] == "close"
                and c["state"] == "closed"
                and c["actor"].startswith("camera:")
                and c["verification"]["result"] == "clear"
            ],  # fmt: skip
            "fed_back": [c for c in cases if c["action"] == "feedback" and c["actor"] == "zhangli"],
        }

    def complete(self) -> bool:
        s = self.story()
        return len(s["event_types"]) >= 4 and all(s[k] for k in ("routed", "escalated", "verified"))


def phone_cases(login_file: Path, port: int) -> dict[str, Any]:
    """Sign in on the running demo's console as the phone user named in the login file; what they see."""
    text = login_file.read_text(encoding="utf-8")
    user, password = text.split("# the grid worker's phone")[1].split("user: ")[1].split("\npassword: ")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
        r = c.post("/api/auth/login", json={"username": user.strip(), "password": password.strip()})
        r.raise_for_status()
        return {
            "me": c.get("/api/auth/me").json(),
            "cases": c.get("/api/my/cases").json().get("items", []),
            "alerts_status": c.get("/api/alerts").status_code,
        }


def test_the_demo_tells_the_whole_story_within_two_minutes(tmp_path: Path) -> None:
    if not VTEST.is_file():
        pytest.skip(f"{VTEST} not found: install Debian's opencv-doc")
    build_footage(FOOTAGE)  # once per recipe, shared by every run
    broker_port, console_port = free_port(), free_port()
    env = {**os.environ, "SENTINEL_DEMO_DATA": str(tmp_path / "demo"), "SENTINEL_DEMO_FOOTAGE": str(FOOTAGE)}
    log = (tmp_path / "demo.log").open("w+")
    cmd = [sys.executable, "-m", "sentinel.cli", "demo", "--port", str(console_port),
           "--mqtt-port", str(broker_port)]  # fmt: skip
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=tmp_path, env={**env, "PYTHONPATH": str(REPO)}, stdout=log, stderr=log)
    watcher = Watcher(broker_port)
    try:
        watcher.connect(started + 30)
        while not watcher.complete() and time.monotonic() - started < WITHIN and proc.poll() is None:
            time.sleep(1.0)
        story = watcher.story()
        phone = phone_cases(tmp_path / "demo" / "demo-login.txt", console_port)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        watcher.client.loop_stop()
        watcher.client.disconnect()
    log.seek(0)
    output = log.read()
    tail = output[-3000:]
    assert proc.returncode == 0, f"the demo did not stop cleanly on SIGINT (exit {proc.returncode}):\n{tail}"
    assert len(story["event_types"]) >= 4, f"event types seen: {story['event_types']}\n{tail}"
    worker_case = story["routed"][0]
    assert worker_case["routing"]["grid_worker"] in ("zhangli", "liufang"), worker_case["routing"]
    assert story["escalated"], f"no escalation within {WITHIN:.0f} s\n{tail}"
    assert story["fed_back"], f"the demo grid worker reported no feedback\n{tail}"
    assert story["verified"], f"no case closed by the camera's verification\n{tail}"
    # the demo's grid worker login on the phone page sees the demo grids' cases, and only as a field user
    assert phone["me"]["role"] == "grid_worker" and phone["me"]["roster_id"] == "liqiang", phone
    assert phone["cases"] and phone["alerts_status"] == 403, phone
    assert "grid worker's phone: http://127.0.0.1:" in output
    # every log line, from the first, is stamped in the site's time (the demo site is in Asia/Shanghai)
    stamped = [ln for ln in output.splitlines() if ln[:4].isdigit()]
    assert stamped and all(ln.split(" ")[1].endswith("+08:00") for ln in stamped), stamped[:3]
    # the newcomer is told where the console is and where the login is, and sees each alert as one line
    assert f"console: http://127.0.0.1:{console_port}/" in output
    assert "demo-login.txt" in output and "password:" not in output
    assert "crowd_gathering (人员聚集) on camera plaza-north in grid 110101001001001" in output
