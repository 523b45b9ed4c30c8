"""The loose ends a newcomer meets first: ports already taken, a camera password not set yet, a console nobody
can sign in to, "1 cameras", the licence field of pyproject.toml."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from fastapi import FastAPI

from sentinel.cli.main import main
from sentinel.config.loader import load_config
from sentinel.console.server import ConsoleServer, ConsoleServerError

REPO = Path(__file__).resolve().parents[1]
VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


def test_the_console_takes_a_free_port_when_its_own_is_taken() -> None:
    app = FastAPI()
    app.get("/healthz")(lambda: {"ok": True})
    with _listening() as taken:
        port = taken.getsockname()[1]
        with pytest.raises(ConsoleServerError, match=f"cannot listen on 127.0.0.1:{port}"):
            ConsoleServer(app, port=port).start()
        server = ConsoleServer(app, port=port, fallback=True)
        server.start()
        try:
            assert server.port != port
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=10) as reply:
                assert reply.status == 200
        finally:
            server.stop()


def _site(tmp_path: Path, cameras: str, extra: str = "") -> Path:
    (tmp_path / "cameras.yaml").write_text(cameras)
    config = tmp_path / "sentinel.yaml"
    config.write_text(
        f"site: {{id: t}}\nstorage: {{data_dir: {tmp_path / 'var'}}}\ndetector: {{model: {REPO / 'models' / 'nanodet-g-416.yaml'}}}\n"
        f"workers: 1\ncameras_file: cameras.yaml\n{extra}"
    )
    return config


def test_run_falls_back_when_1883_and_8080_are_taken_and_says_the_console_has_no_user(tmp_path: Path) -> None:
    """The sample config's fallbacks, in a real `sentinel run`: both ports held by someone else, it still
    comes up (the log names the ports it took) and tells how to add the first console user."""
    sample = load_config(REPO / "config" / "sentinel.yaml", cameras=False)
    assert sample.mqtt.embedded_port_fallback and sample.console.port_fallback
    with _listening() as broker_taken, _listening() as console_taken:
        bport, cport = broker_taken.getsockname()[1], console_taken.getsockname()[1]
        extra = (
            f"mqtt: {{embedded_port: {bport}, embedded_port_fallback: true}}\n"
            f"console: {{port: {cport}, port_fallback: true}}\n"
        )
        config = _site(tmp_path, "cameras: []\n", extra)
        log = tmp_path / "run.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "sentinel.cli", "run", "--config", str(config)],
                cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=out, stderr=out,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while "has no user yet" not in log.read_text() and proc.poll() is None:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.3)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    assert f"port {bport} is taken; the embedded MQTT broker uses" in text
    assert f"console: port {cport} is taken" in text
    assert "sentinel running: site t, 0 cameras on " in text
    assert "sentinel users add NAME --role admin" in text and "Traceback" not in text


def test_users_list_needs_no_camera_password(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.environ.pop("SENTINEL_TEST_UNSET_PASSWORD", None)
    cameras = (
        "cameras:\n  - id: gate\n    source: rtsp://admin:${SENTINEL_TEST_UNSET_PASSWORD}@192.0.2.1/x\n"
        "    rules: [{kind: camera_health, event_type: camera_tampered}]\n"
    )
    config = _site(tmp_path, cameras)
    assert main(["check", "--config", str(config)]) == 2  # the camera itself still needs its password
    capsys.readouterr()
    assert main(["users", "list", "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert "SENTINEL_TEST_UNSET_PASSWORD" not in captured.err


@pytest.mark.skipif(not VTEST.is_file(), reason="needs Debian's opencv-doc (vtest.avi)")
@pytest.mark.parametrize(("rules", "expected"), [(1, "1 camera, 1 rule"), (2, "1 camera, 2 rules")])
def test_check_counts_in_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rules: int, expected: str
) -> None:
    rule = "      - {kind: camera_health, event_type: camera_tampered}\n"
    more = "      - {kind: count_in_zone, event_type: crowd_gathering, min_count: 3}\n"
    cameras = f"cameras:\n  - id: plaza\n    source: {VTEST}\n    rules:\n{rule}{more if rules == 2 else ''}"
    assert main(["check", "--config", str(_site(tmp_path, cameras))]) == 0
    assert f"OK: site t, {expected}\n" in capsys.readouterr().out


def test_pyproject_licence_is_an_spdx_string_with_its_file() -> None:
    """setuptools >= 77 warns about `license = {text = ...}` and licence classifiers on every build."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert all((REPO / f).is_file() for f in project["license-files"])
    assert not any(c.startswith("License ::") for c in project.get("classifiers", []))
