"""Live reload of cameras.yaml while `sentinel run` serves real RTSP streams: added cameras start, changed
ones restart, removed ones stop, a broken edit changes nothing, and the untouched camera never stops."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.mqtt_helpers import Received, Recorder
from tests.support.daemon import Daemon
from tests.support.footage import vtest_h264
from tests.support.servers import Mosquitto, RtspServer

pytestmark = pytest.mark.slow


def camera(cid: str, url: str, fps: float = 1.0) -> str:
    return textwrap.indent(
        textwrap.dedent(
            f"""\
            - id: {cid}
              source: "{url}"
              decode: all
              analyze_fps: {fps}
              stall_timeout: 8
            """
        ),
        "  ",
    )


@pytest.fixture
def rtsp() -> Iterator[RtspServer]:
    clip = vtest_h264(768, 576, fps=25, gop=25)
    with RtspServer({"a": clip, "b": clip, "c": clip}) as server:
        yield server


def statuses(rec: Recorder, cid: str) -> list[dict]:
    return [m.json() for m in rec.messages if m.topic.endswith(f"/cameras/{cid}/status") and m.payload]


def test_add_change_remove_and_broken_edit(tmp_path: Path, rtsp: RtspServer) -> None:
    cams = tmp_path / "cameras.yaml"
    cams.write_text("cameras:\n" + camera("a", rtsp.url("a")) + camera("b", rtsp.url("b")))
    with Mosquitto() as broker:
        config = tmp_path / "sentinel.yaml"
        config.write_text(
            f'site: {{id: lr}}\nmqtt: {{url: "{broker.url}", status_interval: 1s}}\n'
            "storage: {data_dir: data}\nworkers: 1\ncameras_file: cameras.yaml\n"
        )
        rec = Recorder(broker.port, "sentinel/lr/cameras/#")
        daemon = Daemon(config)
        try:

            def online(cid: str) -> Callable[[Received], bool]:
                return lambda m: bool(
                    m.topic.endswith(f"/{cid}/status") and m.payload and m.json()["state"] == "online"
                )

            rec.wait_for(online("a"), 60)
            rec.wait_for(online("b"), 60)
            a_since = statuses(rec, "a")[-1]["since"]

            # add c, change b
            cams.write_text(
                "cameras:\n"
                + camera("a", rtsp.url("a"))
                + camera("b", rtsp.url("b"), fps=2)
                + camera("c", rtsp.url("c"))
            )
            rec.wait_for(online("c"), 60)
            rec.wait_for(
                lambda m: m.topic.endswith("/b/status") and m.payload and m.json()["state"] == "stopped", 20
            )
            n_b = len(statuses(rec, "b"))
            rec.wait_for(
                online("b"), 60, count=len([s for s in statuses(rec, "b") if s["state"] == "online"]) + 1
            )
            assert n_b > 0

            # a broken edit: refused, nothing changes
            cams.write_text(cams.read_text().replace("analyze_fps: 2", "analyze_fps: -2"))
            deadline = time.monotonic() + 15
            while "config reload refused" not in daemon.output() and time.monotonic() < deadline:
                time.sleep(0.2)
            out = daemon.output()
            assert "config reload refused" in out
            assert f"{cams}:" in out and "cameras[1].analyze_fps" in out
            time.sleep(2)

            # remove c (and fix b back): c's retained status is cleared
            cams.write_text("cameras:\n" + camera("a", rtsp.url("a")) + camera("b", rtsp.url("b"), fps=2))
            rec.wait_for(lambda m: m.topic.endswith("/c/status") and m.payload == b"", 20)
            time.sleep(2)
            os.kill(daemon.proc.pid, signal.SIGHUP)  # SIGHUP with nothing changed: no restarts
            time.sleep(2)
        finally:
            code = daemon.stop()
            rec.close()
        assert code == 0, daemon.output()

        a_all = statuses(rec, "a")
        first_online = next(i for i, s in enumerate(a_all) if s["state"] == "online")
        a = [s for s in a_all[first_online:] if s["state"] != "stopped"]  # "stopped" only at daemon shutdown
        # a never went down (the message shows each state with its reason, to tell a restart from a stall)
        told = [ln for ln in daemon.output().splitlines() if "camera a" in ln or "reload" in ln]
        assert all(s["state"] == "online" for s in a), ([(s["state"], s.get("error")) for s in a], told)
        assert all(s["since"] == a_since for s in a)  # ...and was never restarted
        frames = [s["frames"] for s in a]
        assert (
            frames == sorted(frames) and frames[-1] > frames[0] + 5
        )  # its frame counter never stopped (the test lasts ~20 s at 1 fps)
        assert "Traceback" not in daemon.output()
