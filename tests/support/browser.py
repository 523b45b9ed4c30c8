"""Everything the console tests drive: a running console over real parts, real snapshots, headless Chromium.

``ConsoleWorld`` is the console as ``sentinel run`` serves it: a real SQLite file (migrated), the real case
engine and its console actions (``EngineActions``), the sample grid and roster from ``config/``, a live feed,
and uvicorn on 127.0.0.1 (free port) in a thread. Snapshots are real: vtest.avi frames with the boxes the real
detector found (``sentinel replay`` over the footage), or a vtest frame drawn like an alert snapshot.

``chromium()`` is Debian's chromium through Debian's chromedriver (Selenium with an explicit Service, so
Selenium Manager never goes to the network), headless.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import httpx
import pytest

from sentinel.alerts.schema import Alert, AlertGrid, AlertLocation, AlertObject, AlertSnapshot
from sentinel.alerts.snapshot import SnapshotStore
from sentinel.alerts.store import AlertStore
from sentinel.cases.engine import CaseEngine
from sentinel.cases.roster import load_roster
from sentinel.cases.routing import routing_for
from sentinel.config.event_types import effective_event_types
from sentinel.config.models import SentinelConfig
from sentinel.console.app import create_app
from sentinel.console.deps import ConsoleDeps
from sentinel.console.engine_actions import EngineActions
from sentinel.console.live import LiveFeed
from sentinel.console.passwords import ScryptCost
from sentinel.console.server import ConsoleServer
from sentinel.geo.grid_file import load_cells
from sentinel.pipeline.snapshot import render_snapshot
from sentinel.storage.db import make_engine, migrate, session_factory, sqlite_url
from tests.support.footage import REPO_ROOT, vtest_h264, vtest_path

TZ = ZoneInfo("Asia/Shanghai")
GRID = "110101001001001"  # 天街社区第一网格: worker 张丽 (zhangli), leader 高翔
PASSWORD = "correct horse 42"
# the tests' scrypt cost: 2^10 takes ~2 ms where the real one (2^17) takes ~0.5 s. Passed explicitly to the
# console (ConsoleDeps.password_cost); tests/test_console_auth.py checks the real cost and its rehash
FAST_HASHES = ScryptCost(2**10, 8, 1)
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def camera_config(source: Path) -> dict[str, Any]:
    return {
        "id": "plaza-north", "name": "北广场 North plaza", "source": str(source), "decode": "keyframes",
        "location": {"lon": 116.3975, "lat": 39.9087}, "grid": GRID,
        "zones": [{"name": "plaza", "polygon": [[0, 0.25], [1, 0.25], [1, 1], [0, 1]]}],
    }  # fmt: skip


def camera_status(camera_id: str = "plaza-north", state: str = "online", **extra: Any) -> dict[str, Any]:
    """A camera status as the supervisor publishes it (plus its zones)."""
    now = datetime.now(TZ).isoformat(timespec="milliseconds")
    status: dict[str, Any] = {
        "camera_id": camera_id, "name": "北广场 North plaza", "state": state, "since": now, "fps": 1.0,
        "last_frame_at": now, "error": None, "decode_mode": "keyframes", "reconnects": 0, "frames": 120,
        "worker": 0, "zones": [{"name": "plaza", "polygon": [[0, 0.25], [1, 0.25], [1, 1], [0, 1]]}],
    }  # fmt: skip
    status.update(extra)
    return status


@dataclass
class ConsoleWorld:
    data_dir: Path
    config: SentinelConfig
    live: LiveFeed
    engine: CaseEngine
    deps: ConsoleDeps
    server: ConsoleServer
    cameras: list[dict[str, Any]] = field(default_factory=list)
    broker_up: bool = True

    @property
    def url(self) -> str:
        return self.server.url

    def add_user(
        self, username: str, role: str, password: str = PASSWORD, name: str = "", roster_id: str | None = None
    ) -> None:
        self.deps.users.add(username, password, role, name, roster_id=roster_id)

    def token(self, username: str) -> str:
        return self.deps.users.create_token(username, "tests")[0]

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)

    def record_alert(
        self, event_type: str = "garbage_exposed", jpeg: bytes | None = None, *, grid: str | None = GRID,
        detected_at: datetime | None = None, camera_id: str = "plaza-north", zone: str | None = "plaza",
        objects: list[AlertObject] | None = None, count: int = 1, alert_id: str | None = None,
    ) -> Alert:  # fmt: skip
        """Store an alert (and its snapshot file) as the supervisor does; nothing is published."""
        et = self.deps.event_types[event_type]
        when = (detected_at or datetime.now(TZ)).astimezone(TZ)
        alert_id = alert_id or str(uuid.uuid4())
        stored = SnapshotStore(self.data_dir).save(alert_id, jpeg, when) if jpeg else None
        ts = when.isoformat(timespec="milliseconds")
        alert = Alert(
            alert_id=alert_id, site="demo", event_type=event_type, code=et.code, name=et.name,
            name_en=et.name_en, severity=et.severity.value, camera_id=camera_id, camera_name="北广场 North plaza",
            zone=zone, started_at=(when - timedelta(seconds=10)).isoformat(timespec="milliseconds"),
            detected_at=ts, confidence=0.81, count=count, objects=objects or [],
            location=AlertLocation(lon=116.3975, lat=39.9087, method="camera"),
            grid=AlertGrid(street=grid[:9], community=grid[:12], grid=grid, name=None) if grid else None,
            snapshot=AlertSnapshot(url=stored.url, sha256=stored.sha256) if stored else None,
        )  # fmt: skip
        topic = f"sentinel/demo/alerts/{event_type}/{camera_id}"
        AlertStore(self.deps.engine).record(alert, topic, str(stored.path) if stored else None)
        return alert

    def record_payload(self, payload: dict[str, Any], snapshot_root: Path) -> Alert:
        """Store an alert JSON as `sentinel replay` wrote it, its snapshot copied under this data_dir."""
        alert = Alert.model_validate(payload)
        path = copy_snapshot(snapshot_root, alert.snapshot.url, self.data_dir) if alert.snapshot else None
        clip = payload.get("clip") or {}
        if clip.get("url") and (snapshot_root / clip["url"].removeprefix("/media/")).is_file():
            copy_snapshot(snapshot_root, clip["url"], self.data_dir)  # its clip too
        topic = f"sentinel/demo/alerts/{alert.event_type}/{alert.camera_id}"
        AlertStore(self.deps.engine).record(alert, topic, str(path) if path else None)
        return alert

    def file_case(self, alert: Alert) -> str:
        """File a stored alert as the daemon's intake does: a case waiting for review, or joined to the open
        case of its type at the same place; returns the case id."""
        grid = alert.grid.grid if alert.grid else None
        return self.engine.on_alert(alert, routing_for(grid, self.deps.roster)).case_id

    def publish_alert(self, alert: Alert) -> None:
        self.live.publish("alert", alert.model_dump(mode="json", by_alias=True))


@contextmanager
def console_world(
    tmp_path: Path,
    console: dict[str, Any] | None = None,
    statuses: Callable[[], list[dict[str, Any]]] | None = None,
    **server_kwargs: Any,
) -> Iterator[ConsoleWorld]:
    """`console`: the config's `console:` section (trusted_proxies, max_body, ...); `statuses`: what
    `/api/cameras` lists (default: `world.cameras`, one camera)."""
    data_dir = tmp_path / "var"
    data_dir.mkdir(parents=True, exist_ok=True)
    clip = vtest_h264(768, 576, fps=25, gop=25)
    config = SentinelConfig.model_validate(
        {
            "site": {"id": "demo", "name": "示例街道 Sample street office"},
            "storage": {"data_dir": str(data_dir)},
            "cameras": [camera_config(clip)],
            "console": console or {},
        }  # fmt: skip
    )
    db = make_engine(sqlite_url(data_dir))
    migrate(db)
    cells = load_cells(REPO_ROOT / "config" / "grid.geojson")
    roster = load_roster(REPO_ROOT / "config" / "roster.yaml", cells)
    live = LiveFeed()
    engine = CaseEngine(
        session_factory(db), effective_event_types({}), lambda: datetime.now(UTC), config.topic_prefix(),
        config=config.cases, tz=TZ,
    )  # fmt: skip
    actions = EngineActions(engine, live=live, roster=roster, cameras=lambda: config.cameras)
    cameras = [camera_status()]
    holder: dict[str, ConsoleWorld] = {}
    deps = ConsoleDeps(
        db, config, actions, live=live, camera_status=statuses or (lambda: list(cameras)), cells=cells,
        roster=roster, broker_connected=lambda: holder["world"].broker_up, password_cost=FAST_HASHES,
    )  # fmt: skip
    server = ConsoleServer(create_app(deps), "127.0.0.1", 0, **server_kwargs)
    server.start()
    world = ConsoleWorld(data_dir, config, live, engine, deps, server, cameras)
    holder["world"] = world
    try:
        yield world
    finally:
        server.stop()
        db.dispose()


# ---------------------------------------------------------------- real snapshots


def vtest_frame(index: int = 200) -> Any:
    cap = cv2.VideoCapture(str(vtest_path()))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    cap.release()
    assert ok, "cannot read vtest.avi"
    return frame


def vtest_snapshot(index: int = 200) -> bytes:
    """A vtest.avi frame drawn as an alert snapshot (zone, one box)."""
    from sentinel.detect.rules import SeenObject

    box = SeenObject("person", 0.8, (0.40, 0.45, 0.47, 0.75), 1)
    return render_snapshot(vtest_frame(index), [box], [(0, 0.25), (1, 0.25), (1, 1), (0, 1)])


def replay_alerts(out: Path) -> list[dict[str, Any]]:
    """Real alerts from real footage: `sentinel replay` over vtest (768x576) with crowd rules in four zones;
    returns the alert JSON (snapshots under `out/snapshots/`). Cached in `out`."""
    alerts_file = out / "alerts.jsonl"
    if not alerts_file.is_file():
        clip = vtest_h264(768, 576, fps=25, gop=25)
        out.mkdir(parents=True, exist_ok=True)
        quads = {
            "nw": (0, 0.2, 0.5, 0.6),
            "ne": (0.5, 0.2, 1, 0.6),
            "sw": (0, 0.6, 0.5, 1),
            "se": (0.5, 0.6, 1, 1),
        }
        camera = camera_config(clip) | {
            "zones": [{"name": n, "polygon": [[a, b], [c, b], [c, d], [a, d]]} for n, (a, b, c, d) in quads.items()],
            "rules": [{"kind": "count_in_zone", "event_type": "crowd_gathering", "zone": n, "min_count": 2,
                       "min_duration": "2s", "cooldown": "10s"} for n in quads],
        }  # fmt: skip
        config = out / "sentinel.yaml"
        config.write_text(json.dumps({"site": {"id": "demo"}, "cameras": [camera]}))  # JSON is YAML
        proc = subprocess.run(
            [sys.executable, "-m", "sentinel.cli.main", "replay", str(clip), "--config", str(config),
             "--out", str(out), "--quiet"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in alerts_file.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------- the browser


def chromium(width: int = 1600, height: int = 1000) -> Any:
    """Headless Debian Chromium via Debian's chromedriver (skips when they are not installed)."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip("install Debian's chromium and chromium-driver (scripts/setup.sh --test)")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not try the network
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--no-first-run",
        f"--window-size={width},{height}", "--lang=zh-CN",
    ):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def copy_snapshot(src_root: Path, url: str, data_dir: Path) -> Path:
    """Put a replay snapshot (or clip) where the daemon keeps its own: <data_dir>/snapshots/DAY/ID.jpg."""
    rel = url.removeprefix("/media/")
    dest = data_dir / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src_root / rel, dest)
    return dest
