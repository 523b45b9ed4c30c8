"""No password anywhere it could leak: an end-to-end run with a camera password (RTSP digest auth), a wrong
camera password, an MQTT password (TLS broker with a password file) and a database password, all given as
`${ENV}` references, then a grep of everything captured — the daemon's log, every MQTT topic and payload,
`sentinel check` output (good and broken config), the database dump, text files in the data dir, the broker's
log — for the secrets. The database is PostgreSQL (a role with a password) when a server is usable; a start
against an unreachable database with a password in its URL is checked either way."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.footage import vtest_h264
from tests.support.servers import HOST, RtspServer, free_port
from tests.support.tls import Pki, SecureMosquitto, TlsRecorder

pytestmark = pytest.mark.slow

CAM_SECRET = "Cam-s3cret-81f2"
CAM_WRONG = "Cam-wr0ng-5e7a"
MQTT_SECRET = "Mqtt-s3cret-c4d0"
DB_SECRET = "Db-s3cret-9b3e"
READER = ("reader", "Reader-pw-1122")
SECRETS = [CAM_SECRET, CAM_WRONG, MQTT_SECRET, DB_SECRET]
ENV = {"CAM_PASS": CAM_SECRET, "CAM_PASS_WRONG": CAM_WRONG, "MQTT_PASS": MQTT_SECRET, "DB_PASS": DB_SECRET}


def leaks(text: str) -> list[str]:
    forms = {s: {s, quote(s, safe=""), s.encode().hex()} for s in SECRETS}
    return [s for s, variants in forms.items() if any(v in text for v in variants)]


@pytest.fixture
def database(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, Any]]:
    """(kind, database.url with ${DB_PASS}, dump function): a PostgreSQL role with DB_SECRET, else SQLite."""
    try:
        pg = request.getfixturevalue("pg_database")
    except pytest.skip.Exception as exc:
        yield "sqlite (PostgreSQL unavailable: " + str(exc) + ")", "", None
        return
    pg.reset()
    role, url = pg.add_login_role(DB_SECRET)
    templated = url.replace(f"{role}@", f"{role}:${{DB_PASS}}@", 1)

    def dump() -> str:
        from tests.support.pg import connect

        out = []
        with connect(pg.sa_url.set(username=role, password=DB_SECRET)) as conn:  # its tables
            tables = [
                r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ]
            for table in tables:
                out += [f"{table}: {row}" for row in conn.execute(f'SELECT * FROM "{table}"')]
        return "\n".join(out)

    try:
        yield "postgresql", templated, dump
    finally:
        pg.drop_role(role)


def write_config(path: Path, mqtt: dict[str, Any], cameras: list[dict[str, Any]], db_url: str) -> Path:
    config: dict[str, Any] = {
        "site": {"id": "nosecret", "timezone": "Asia/Shanghai"},
        "mqtt": {**mqtt, "status_interval": "2s"},
        "storage": {"data_dir": "data"},
        "console": {"enabled": False},
        "workers": 1,
        "cameras": cameras,
    }
    if db_url:
        config["database"] = {"url": db_url}
    path.write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def sentinel(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sentinel.cli.main", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **ENV}, cwd=cwd,
    )  # fmt: skip


def test_no_password_in_anything_captured(tmp_path: Path, database: tuple[str, str, Any]) -> None:
    kind, db_url, pg_dump = database
    pki = Pki(tmp_path / "pki")
    footage = vtest_h264(768, 576, fps=10, gop=10)
    captured: dict[str, str] = {}
    with (
        SecureMosquitto(pki, {"sentinel": MQTT_SECRET, READER[0]: READER[1]}) as broker,
        RtspServer({"plaza": footage}, user="cam", password=CAM_SECRET) as rtsp,
    ):
        mqtt = {"url": broker.url, "tls_ca": str(pki.ca), "username": "sentinel", "password": "${MQTT_PASS}"}
        cameras = [
            {
                "id": "plaza", "source": f"rtsp://cam:${{CAM_PASS}}@{HOST}:{rtsp.port}/plaza", "decode": "keyframes",
                "analyze_fps": 1, "location": {"lon": 116.3975, "lat": 39.9087}, "grid": "110101001001001",
                "zones": [{"name": "plaza", "polygon": [[0, 0.25], [1, 0.25], [1, 1], [0, 1]]}],
                "rules": [{"kind": "count_in_zone", "event_type": "crowd_gathering", "zone": "plaza",
                           "min_count": 3, "min_duration": "2s", "cooldown": "1h"}],
            },
            {"id": "wrongpass", "source": f"rtsp://cam:${{CAM_PASS_WRONG}}@{HOST}:{rtsp.port}/plaza", "open_timeout": 4},
        ]  # fmt: skip
        config = write_config(tmp_path / "sentinel.yaml", mqtt, cameras, db_url)

        check = sentinel("check", "--config", str(config), cwd=tmp_path)
        assert check.returncode == 0, check.stderr
        captured["check"] = check.stdout + check.stderr
        broken = write_config(
            tmp_path / "broken.yaml", mqtt | {"keepalive": 1}, [cameras[0] | {"analyze_fps": 0}, cameras[1] | {"x": 1}], db_url
        )  # fmt: skip
        check = sentinel("check", "--config", str(broken), cwd=tmp_path)
        assert check.returncode == 2, check.stdout + check.stderr
        captured["check (broken config)"] = check.stdout + check.stderr

        recorder = TlsRecorder(broker, *READER, "#")
        log_path = tmp_path / "daemon.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "sentinel.cli.main", "run", "--config", str(config)],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **ENV}, cwd=tmp_path,
            )  # fmt: skip
            try:
                alert = recorder.wait_for(lambda m: "/alerts/crowd_gathering/plaza" in m.topic, 120)[0].json()
                wrong = recorder.wait_for(
                    lambda m: m.topic.endswith("/wrongpass/status") and m.json()["state"] == "offline", 30
                )[0].json()  # fmt: skip
                recorder.wait_for(lambda m: m.topic.endswith("/health"), 15)
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                recorder.close()
        assert proc.returncode == 0, log_path.read_text()
        assert alert["camera_id"] == "plaza"
        assert wrong["error"] == (
            f"rtsp://cam:***@{HOST}:{rtsp.port}/plaza: authentication failed (401 Unauthorized): "
            "check the user name and password"
        )
        captured["daemon log"] = log_path.read_text(errors="replace")
        captured["mqtt"] = "\n".join(
            f"{m.topic} {m.payload.decode(errors='replace')}" for m in recorder.messages
        )
        captured["broker log"] = broker.log_text()

    data = tmp_path / "data"
    if pg_dump is not None:
        captured["database dump (PostgreSQL)"] = pg_dump()
    else:
        with contextlib.closing(sqlite3.connect(data / "sentinel.db")) as db:
            captured["database dump (SQLite)"] = "\n".join(db.iterdump())
    for file in data.rglob("*"):
        if file.is_file() and file.suffix not in (".jpg", ".mp4", ".db", ".db-wal", ".db-shm"):
            captured[f"file {file.relative_to(tmp_path)}"] = file.read_text(errors="replace")

    # a start that fails on the database: the error names the problem, not the password
    unreachable = f"postgresql://sentinel:${{DB_PASS}}@{HOST}:{free_port()}/sentinel"
    failing = write_config(tmp_path / "nodb.yaml", {"url": f"mqtt://{HOST}:1"}, [], unreachable)
    run = sentinel("run", "--config", str(failing), cwd=tmp_path)
    assert run.returncode == 1 and "cannot open the database" in run.stderr, run.stderr
    captured["run with an unreachable database"] = run.stdout + run.stderr

    assert captured["mqtt"].count("/alerts/") >= 1 and "database dump" in " ".join(captured)
    found = {where: leaks(text) for where, text in captured.items() if leaks(text)}
    assert found == {}, f"passwords leaked: {found}"
    print(
        f"\n[secrets] database: {kind}; grepped {len(captured)} sources, {sum(map(len, captured.values()))} chars"
    )
