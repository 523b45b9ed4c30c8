"""The test infrastructure itself: real Mosquitto, real RTSP server, cached footage."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Literal

import av
import paho.mqtt.client as mqtt
import pytest

from tests.support.footage import vtest_h264
from tests.support.servers import Mosquitto, RtspServer, ServerError, free_port

RTSP_OPTIONS = {"rtsp_transport": "tcp"}


# --------------------------------------------------------------------------- helpers


def _mqtt_client(port: int, client_id: str) -> mqtt.Client:
    """A connected, looping paho client (waits for CONNACK)."""
    connected = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.on_connect = lambda c, u, flags, reason, props: connected.set()
    client.connect("127.0.0.1", port, keepalive=10)
    client.loop_start()
    assert connected.wait(5), f"{client_id}: no CONNACK from 127.0.0.1:{port}"
    return client


def _pub_sub_roundtrip(port: int, topic: str, payload: bytes) -> None:
    received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    subscribed = threading.Event()
    sub = _mqtt_client(port, "sub")
    pub = _mqtt_client(port, "pub")
    try:
        sub.on_message = lambda c, u, msg: received.put(msg)
        sub.on_subscribe = lambda c, u, mid, reason_codes, props: subscribed.set()
        sub.subscribe(topic, qos=1)
        assert subscribed.wait(5), "no SUBACK"
        info = pub.publish(topic, payload, qos=1)
        info.wait_for_publish(5)
        assert info.is_published(), "no PUBACK"
        msg = received.get(timeout=5)
        assert (msg.topic, msg.payload, msg.qos) == (topic, payload, 1)
    finally:
        for client in (sub, pub):
            client.disconnect()
            client.loop_stop()


def _decode(
    url: str, n: int, timeout: tuple[float, float] = (10, 10)
) -> tuple[list[av.VideoFrame], list[float]]:
    """Decode ``n`` frames; returns them with arrival times (seconds since the open call)."""
    t0 = time.monotonic()
    frames: list[av.VideoFrame] = []
    times: list[float] = []
    with av.open(url, options=RTSP_OPTIONS, timeout=timeout) as container:
        for frame in container.decode(video=0):
            frames.append(frame)
            times.append(time.monotonic() - t0)
            if len(frames) >= n:
                break
    assert len(frames) == n, f"stream ended after {len(frames)} frames"
    return frames, times


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"  # zombies (reparented, not yet reaped) are dead for our purposes


def _wait_dead(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if _pid_alive(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return [p for p in pids if _pid_alive(p)]


def _child_pids(server: Mosquitto | RtspServer) -> list[int]:
    if isinstance(server, Mosquitto):
        return [server._child.proc.pid] if server._child else []
    return [c.proc.pid for c in server._children()]


# --------------------------------------------------------------------------- footage


def _keyframe_indices(path: Path, limit: int) -> tuple[list[int], av.video.stream.VideoStream]:
    keyframes: list[int] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for i, packet in enumerate(container.demux(stream)):
            if packet.size == 0:
                continue
            assert packet.pts == packet.dts, "B-frames present (pts != dts)"
            if packet.is_keyframe:
                keyframes.append(i)
            if i + 1 >= limit:
                break
        return keyframes, stream


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (768, 576)])
def test_footage_h264_size_codec_and_gop(width: int, height: int) -> None:
    path = vtest_h264(width, height)
    assert path.is_file() and path.parent.name == "footage"
    assert vtest_h264(width, height) == path  # cached: same file, no re-transcode
    keyframes, stream = _keyframe_indices(path, limit=260)
    assert stream.codec_context.name == "h264"
    assert (stream.codec_context.width, stream.codec_context.height) == (width, height)
    assert stream.codec_context.pix_fmt == "yuv420p"
    assert stream.average_rate == 25
    assert keyframes == [0, 50, 100, 150, 200, 250]


def test_footage_cache_is_keyed_by_parameters(footage_720p: Path) -> None:
    assert footage_720p == vtest_h264()
    assert vtest_h264(768, 576) != footage_720p
    assert not list(footage_720p.parent.glob("*.tmp")), "leftover temp files in the cache"


# --------------------------------------------------------------------------- mosquitto


@pytest.mark.slow
def test_mosquitto_qos1_roundtrip_and_restart_on_same_port(mqtt_broker: Mosquitto) -> None:
    port = mqtt_broker.port
    assert mqtt_broker.url == f"mqtt://127.0.0.1:{port}"
    assert port != 1883
    _pub_sub_roundtrip(port, "sentinel/test/a", b"hello")

    mqtt_broker.stop()
    assert not mqtt_broker.running
    with pytest.raises(ConnectionRefusedError):
        mqtt.Client(mqtt.CallbackAPIVersion.VERSION2).connect("127.0.0.1", port)

    mqtt_broker.start()
    assert mqtt_broker.port == port
    _pub_sub_roundtrip(port, "sentinel/test/b", b"again")
    assert "mosquitto version" in mqtt_broker.log_text()


@pytest.mark.slow
def test_mosquitto_existing_client_sees_outage() -> None:
    with Mosquitto() as broker:
        disconnected = threading.Event()
        client = _mqtt_client(broker.port, "watcher")
        client.on_disconnect = lambda c, u, flags, reason, props: disconnected.set()
        try:
            broker.stop()
            assert disconnected.wait(5), "client did not notice the broker going away"
        finally:
            client.loop_stop()


@pytest.mark.slow
def test_mosquitto_listens_on_loopback_only_and_cleans_up() -> None:
    broker = Mosquitto()
    pids = _child_pids(broker)
    conf = broker.conf_path.read_text()
    assert f"listener {broker.port} 127.0.0.1" in conf
    log_dir = broker.log_dir
    broker.close()
    assert _wait_dead(pids, 5) == []
    assert not log_dir.exists()
    broker.close()  # idempotent


# --------------------------------------------------------------------------- RTSP


@pytest.mark.slow
def test_rtsp_decodes_720p_frames(rtsp_server: RtspServer) -> None:
    url = rtsp_server.url("cam1")
    assert url == f"rtsp://127.0.0.1:{rtsp_server.port}/cam1"
    frames, times = _decode(url, 10)
    assert all((f.width, f.height) == (1280, 720) for f in frames)
    assert times[0] < 8, f"first frame after {times[0]:.1f}s"
    rtsp_server.check()


@pytest.mark.slow
def test_rtsp_frames_arrive_at_native_pace(rtsp_server: RtspServer) -> None:
    # av.open buffers ~1 s of frames while probing; they come out in a burst, so measure
    # well after it: frames 50..100 are 2 s of video at 25 fps.
    _, times = _decode(rtsp_server.url("cam1"), 101)
    elapsed = times[100] - times[50]
    assert 1.2 <= elapsed <= 4.0, f"50 frames took {elapsed:.2f}s (expected ~2 s at 25 fps)"


@pytest.mark.slow
def test_rtsp_stop_refuses_and_start_serves_same_url(rtsp_server: RtspServer) -> None:
    url = rtsp_server.url("cam1")
    _decode(url, 5)

    rtsp_server.stop()
    assert not rtsp_server.running
    with pytest.raises((av.FFmpegError, OSError)):
        av.open(url, options=RTSP_OPTIONS, timeout=(3, 3))

    rtsp_server.start()
    assert rtsp_server.url("cam1") == url
    frames, _ = _decode(url, 10)
    assert (frames[-1].width, frames[-1].height) == (1280, 720)


@pytest.mark.slow
def test_rtsp_pause_stalls_without_closing_then_resumes(rtsp_server: RtspServer) -> None:
    arrivals: list[float] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def reader() -> None:
        # PyAV containers are not thread-safe: open, decode and close all happen here.
        try:
            with av.open(rtsp_server.url("cam1"), options=RTSP_OPTIONS, timeout=(10, 10)) as container:
                for _ in container.decode(video=0):
                    arrivals.append(time.monotonic())
                    if done.is_set():
                        break
        except BaseException as exc:  # surfaced by the assertions below
            errors.append(exc)

    def wait_for(count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(arrivals) < count and time.monotonic() < deadline and not errors:
            time.sleep(0.05)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        wait_for(40, 12)
        assert len(arrivals) >= 40, f"only {len(arrivals)} frames before pausing; {errors}"

        rtsp_server.pause()
        time.sleep(0.5)  # frames already in flight may still trickle in
        stalled_from = len(arrivals)
        time.sleep(2.0)
        assert len(arrivals) == stalled_from, "frames kept coming while paused"
        assert thread.is_alive() and not errors, f"stream closed during pause: {errors}"

        rtsp_server.resume()
        wait_for(stalled_from + 50, 5)
        assert len(arrivals) >= stalled_from + 50, f"{len(arrivals) - stalled_from} frames after resume"
        assert not errors, errors
        rtsp_server.check()
    finally:
        done.set()
        rtsp_server.resume()
        thread.join(15)


@pytest.mark.slow
def test_rtsp_two_mounts_serve_their_own_files(footage_720p: Path) -> None:
    with RtspServer({"cam1": footage_720p, "/cam2": vtest_h264(768, 576)}) as server:
        results: dict[str, tuple[int, int]] = {}

        def grab(mount: str) -> None:
            frames, _ = _decode(server.url(mount), 3)
            results[mount] = (frames[0].width, frames[0].height)

        threads = [threading.Thread(target=grab, args=(m,)) for m in ("cam1", "cam2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert results == {"cam1": (1280, 720), "cam2": (768, 576)}, server.logs()
        with pytest.raises(av.FFmpegError):  # unknown mount → 404
            av.open(server.url("nope"), options=RTSP_OPTIONS, timeout=(5, 5))


@pytest.mark.slow
@pytest.mark.parametrize("auth", ["digest", "basic"])
def test_rtsp_auth_rejects_wrong_password(footage_720p: Path, auth: Literal["digest", "basic"]) -> None:
    with RtspServer({"cam1": footage_720p}, user="viewer", password="s3 cret/:", auth=auth) as server:
        url = server.url("cam1")
        with pytest.raises(av.error.HTTPUnauthorizedError):
            av.open(url, options=RTSP_OPTIONS, timeout=(5, 5))
        bad = url.replace("rtsp://", "rtsp://viewer:wrong@")
        with pytest.raises(av.error.HTTPUnauthorizedError):
            av.open(bad, options=RTSP_OPTIONS, timeout=(5, 5))
        frames, _ = _decode(server.url("cam1", with_credentials=True), 3)
        assert frames[0].width == 1280


@pytest.mark.slow
def test_rtsp_close_kills_children_and_restart_errors_are_clear(footage_720p: Path) -> None:
    server = RtspServer({"cam1": footage_720p})
    pids = _child_pids(server)
    assert len(pids) == 2
    port = server.port
    server.stop()
    assert _wait_dead(pids, 5) == []
    # Someone else takes the port while we are stopped: start() must say so, with the log.
    blocker = socket.socket()
    try:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        with pytest.raises(ServerError, match="exited before READY") as excinfo:
            server.start()
        assert "rtsp_server.log" in str(excinfo.value)
    finally:
        blocker.close()
        server.close()
    assert _wait_dead(_child_pids(server), 5) == []


# --------------------------------------------------------------------------- hygiene

_ORPHAN_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    from tests.support.servers import Mosquitto, RtspServer
    broker = Mosquitto()
    rtsp = RtspServer({"cam1": sys.argv[2]})
    pids = [broker._child.proc.pid] + [c.proc.pid for c in rtsp._children()]
    print(json.dumps({"pids": pids, "dirs": [str(broker.log_dir), str(rtsp.log_dir)]}), flush=True)
    time.sleep(60)
    """
)


@pytest.mark.slow
def test_children_die_when_owner_is_killed(footage_720p: Path) -> None:
    """SIGKILL the process owning the servers: PDEATHSIG must take its children down."""
    owner = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_SCRIPT, str(Path(__file__).parents[1]), str(footage_720p)],
        stdout=subprocess.PIPE,
        text=True,
    )
    dirs: list[str] = []
    try:
        assert owner.stdout is not None
        started = json.loads(owner.stdout.readline())
        pids, dirs = started["pids"], started["dirs"]
        assert len(pids) == 3 and all(_pid_alive(p) for p in pids)
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(5)
        assert _wait_dead(pids, 5) == [], "children survived their owner"
    finally:
        owner.kill()
        owner.wait()
        for d in dirs:  # the owner had no chance to clean up
            shutil.rmtree(d, ignore_errors=True)


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 < port < 65536
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
