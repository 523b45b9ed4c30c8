"""Alert clips: the packet ring, clips cut from it (remuxed, or re-encoded with privacy masks), reported
failures, the alert schema's `clip`, migration 0004, and the whole hand-over worker → supervisor against a
real RTSP server, real footage and a real mosquitto."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import av
import cv2
import jsonschema
import numpy as np
import pytest
import sqlalchemy as sa

from sentinel.alerts.schema import Alert, AlertClip
from sentinel.alerts.store import AlertStore
from sentinel.config.models import CameraConfig
from sentinel.detect.privacy import PrivacyMask, mask_pixels
from sentinel.detect.rules import RuleEvent
from sentinel.ingest.packet_ring import PacketRing
from sentinel.ingest.reader import Frame, StreamReader
from sentinel.pipeline.clips import ClipJob, ClipResult, ClipWriter, write_job
from sentinel.storage.db import make_engine, migrate
from tests.mqtt_helpers import Recorder
from tests.support.daemon import Daemon
from tests.support.footage import vtest_h264
from tests.support.servers import Mosquitto, RtspServer
from tests.test_e2e_pipeline import daemon_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((REPO / "sentinel" / "data" / "alert.schema.json").read_text())
TZ = ZoneInfo("Asia/Shanghai")
MASK = [(0.0, 0.0), (0.4, 0.0), (0.4, 0.3), (0.0, 0.3)]  # top-left: "a residential window"


def make_alert() -> Alert:
    from sentinel.alerts.builder import build_alert, new_alert_id
    from sentinel.config.event_types import default_event_types

    now = time.time()
    event = RuleEvent("c", "count_in_zone", "crowd_gathering", "plaza", now - 10, now, 3, 0.8, [], None)
    camera = CameraConfig(id="c", source="/x.mp4")
    return build_alert(new_alert_id(), "s", event, camera, default_event_types()["crowd_gathering"], TZ, None)


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def decode_all(path: Path) -> list[tuple[float, np.ndarray]]:
    with av.open(str(path)) as c:
        return [(float(f.time or 0.0), f.to_ndarray(format="bgr24")) for f in c.decode(video=0)]


def iso_ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# ---------------------------------------------------------------- the ring


def demux_into(ring: PacketRing, path: Path, seconds: float | None = None) -> int:
    n = 0
    with av.open(str(path)) as c:
        for packet in c.demux(c.streams.video[0]):
            if packet.size == 0:
                continue
            ring.offer(packet)
            n += 1
            if seconds is not None and packet.pts * packet.time_base >= seconds:
                break
    return n


def test_ring_starts_at_a_keyframe_and_keeps_its_bounds() -> None:
    clip = vtest_h264(768, 576, fps=25, gop=50)  # a keyframe every 2 s
    ring = PacketRing(max_seconds=6.0)
    demux_into(ring, clip, seconds=30)
    packets = ring.take_from(ring.current_segment or 0, 0.0)
    assert packets[0].keyframe
    span = packets[-1].t - packets[0].t
    assert 6.0 <= span < 6.0 + 2.0 + 0.05  # at least max_seconds, at most one GOP more
    assert [p.n for p in packets] == sorted(p.n for p in packets)
    assert all(b.t > a.t for a, b in zip(packets, packets[1:], strict=False))

    small = PacketRing(max_seconds=60.0, max_bytes=300_000)
    demux_into(small, clip, seconds=30)
    count, size, seconds = small.stats()
    biggest_gop = 200_000  # vtest 768x576 GOPs are well under this
    assert size <= 300_000 + biggest_gop and seconds < 30
    assert small.take_from(small.current_segment or 0, 0.0)[0].keyframe and small.dropped_bytes > 0


def test_ring_new_segment_on_loop_and_reconnect() -> None:
    clip = vtest_h264(768, 576, fps=25, gop=50)
    ring = PacketRing(max_seconds=30.0)
    demux_into(ring, clip, seconds=4)
    first = ring.current_segment
    demux_into(ring, clip, seconds=4)  # a new connection (new stream), timestamps from 0 again
    assert ring.current_segment == (first or 0) + 1
    assert ring.segment(first or 0) is not None  # still buffered, still remuxable
    with av.open(str(clip)) as c:  # the same stream seeking back (a looping file)
        stream = c.streams.video[0]
        for i, packet in enumerate(c.demux(stream)):
            ring.offer(packet)
            if i == 60:
                break
        before = ring.current_segment
        c.seek(0)
        for i, packet in enumerate(c.demux(stream)):
            ring.offer(packet)
            if i == 10:
                break
        assert ring.current_segment == (before or 0) + 1


def test_pinned_post_part_survives_a_reader_running_ahead(tmp_path: Path) -> None:
    clip = vtest_h264(768, 576, fps=25, gop=25)
    with av.open(str(clip)) as c:  # packets are offered while their container is open, as the reader does
        packets = [p for p in c.demux(c.streams.video[0]) if p.size]
        ring = PacketRing(max_seconds=5.0)
        for p in packets[:201]:  # through t = 8.0 s
            ring.offer(p)
        ring.note_frame(1)
        job = ClipJob.plan("a", ring, 1, time.time(), 2, 2, tmp_path / "a.mp4")
        for p in packets[201:1000]:  # the reader races 30 s ahead before the writer looks
            ring.offer(p)
        got = job.packets()
        assert [round(p.t, 2) for p in got[:1]] == [6.0] and round(got[-1].t, 2) == 10.0
        assert all(b.n == a.n + 1 for a, b in zip(got, got[1:], strict=False))  # nothing missing
        assert ring.stats()[2] > 30  # held for the clip while it waited ...
        ring.offer(packets[1000])
        assert ring.stats()[2] < 5.0 + 1.0 + 0.05  # ... and back within its bound with the next packet

        small = PacketRing(max_seconds=5.0, max_bytes=400_000)  # the byte bound wins over a pin
        for p in packets[:201]:
            small.offer(p)
        small.note_frame(1)
        job = ClipJob.plan("b", small, 1, time.time(), 1, 3, tmp_path / "b.mp4")
        for p in packets[201:1000]:
            small.offer(p)
        result = write_job(job, "")
    assert result.state == "partial" and "byte bound" in (result.error or ""), result
    assert result.path is not None and decode_all(result.path)


def test_offer_never_raises() -> None:
    ring = PacketRing()
    ring.offer(object())  # type: ignore[arg-type]
    assert ring.stats() == (0, 0, 0.0)


# ---------------------------------------------------------------- clips from a reader


class Feed:
    """A StreamReader on a file with a packet ring, as the worker wires it."""

    def __init__(self, source: str, pre: float, post: float, **camera: object) -> None:
        self.ring = PacketRing(max_seconds=max(pre, post) + 12)
        self.frames: list[Frame] = []
        cam = CameraConfig(id="c", source=source, decode="keyframes", analyze_fps=1, **camera)  # type: ignore[arg-type]
        self.reader = StreamReader(cam, self._on_frame, lambda s: None, on_packet=self.ring.offer)
        self.reader.start()

    def _on_frame(self, frame: Frame) -> None:
        self.ring.note_frame(frame.seq)
        self.frames.append(frame)

    def frame(self, index: int, timeout: float = 30) -> Frame:
        deadline = time.monotonic() + timeout
        while len(self.frames) <= index:
            assert time.monotonic() < deadline, "no frames"
            time.sleep(0.05)
        return self.frames[index]

    def close(self) -> None:
        self.reader.stop()
        self.reader.join(10)
        self.ring.close()


def run_jobs(*jobs: ClipJob, timeout: float = 60) -> list[ClipResult]:
    results: list[ClipResult] = []
    writer = ClipWriter(results.append)
    writer.start()
    for job in jobs:
        writer.submit(job)
    deadline = time.monotonic() + timeout
    while len(results) < len(jobs) and time.monotonic() < deadline:
        time.sleep(0.1)
    writer.stop()
    assert len(results) == len(jobs), results
    return sorted(results, key=lambda r: [j.alert_id for j in jobs].index(r.alert_id))


def test_remuxed_and_masked_clips_from_real_footage(tmp_path: Path) -> None:
    source = vtest_h264(768, 576, fps=25, gop=25)
    feed = Feed(str(source), pre=3, post=3, realtime=False, loop=False)
    try:
        alert = feed.frame(8)  # media t = 8 s
        plain = ClipJob.plan("plain", feed.ring, alert.seq, alert.ts, 3, 3, tmp_path / "plain.mp4")
        masked = ClipJob.plan(
            "masked", feed.ring, alert.seq, alert.ts, 3, 3, tmp_path / "masked.mp4", PrivacyMask([MASK])
        )
        r_plain, r_masked = run_jobs(plain, masked)
    finally:
        feed.close()
    for r in (r_plain, r_masked):
        assert r.state == "ready" and r.error is None, r
        assert r.path is not None and r.sha256 == hashlib.sha256(r.path.read_bytes()).hexdigest()
        assert r.start is not None and r.end is not None
        assert r.start <= alert.ts - 3 + 1e-3 and r.end >= alert.ts + 3
        info = ffprobe(r.path)
        assert info["format"]["format_name"].startswith("mov,mp4")
        assert info["streams"][0]["codec_name"] == "h264"
        assert abs(float(info["format"]["duration"]) - (r.end - r.start)) < 0.1
        frames = decode_all(r.path)
        assert len(frames) == round((r.end - r.start) * 25)
        # the alert frame sits where the clip's times say
        offset = alert.ts - r.start
        t_best = min(frames, key=lambda f: float(np.abs(f[1].astype(int) - alert.image.astype(int)).mean()))[
            0
        ]
        assert abs(t_best - offset) <= 0.1, (t_best, offset)
    assert not r_plain.reencoded and r_masked.reencoded
    assert r_plain.path is not None and r_plain.path.read_bytes()[4:8] == b"ftyp"
    assert r_plain.path.read_bytes().find(b"moov") < r_plain.path.read_bytes().find(b"mdat")  # faststart
    # remuxed: the camera's own packets, bit for bit
    with av.open(str(source)) as src, av.open(str(r_plain.path)) as out:
        source_packets = {bytes(p) for p in src.demux(video=0) if p.size}
        assert all(bytes(p) in source_packets for p in out.demux(video=0) if p.size)
    # masked: the region is black in every decoded frame, the rest is the picture
    assert r_masked.path is not None
    region = mask_pixels(576, 768, [MASK])
    polygon = np.zeros((576, 768), bool)
    polygon[: int(0.3 * 576), : int(0.4 * 768)] = True
    assert region[polygon].all()
    frames = decode_all(r_masked.path)
    for _, image in frames:
        assert image[polygon].max() == 0
    assert max(image[~region].max() for _, image in frames) > 200


def test_too_little_buffered_and_stream_gap_are_partial(tmp_path: Path) -> None:
    short = tmp_path / "short.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(vtest_h264(768, 576, fps=25, gop=25)), "-t", "6", "-c", "copy", str(short)],
        check=True,
    )  # fmt: skip
    feed = Feed(str(short), pre=4, post=4, realtime=True, loop=True)
    try:
        early = feed.frame(1)  # 1 s in: less than `pre` buffered
        late = feed.frame(5)  # 5 s into a 6 s file: the loop cuts the `post` part
        results = run_jobs(
            ClipJob.plan("early", feed.ring, early.seq, early.ts, 4, 1, tmp_path / "early.mp4"),
            ClipJob.plan("late", feed.ring, late.seq, late.ts, 1, 4, tmp_path / "late.mp4"),
        )
    finally:
        feed.close()
    early_r, late_r = results
    assert early_r.state == "partial" and early_r.path is not None and early_r.path.is_file()
    assert early_r.error is not None and "before the alert were buffered (asked 4 s)" in early_r.error
    assert late_r.state == "partial" and late_r.path is not None
    assert late_r.error is not None and "gap or reconnected" in late_r.error, late_r.error
    for r in results:
        assert r.path is not None and len(decode_all(r.path)) > 0


def test_disk_full_and_unwritable_are_failed(tmp_path: Path) -> None:
    source = vtest_h264(768, 576, fps=25, gop=25)
    feed = Feed(str(source), pre=1, post=1, realtime=False, loop=False)
    try:
        alert = feed.frame(3)
        full = tmp_path / "full" / "a.mp4"
        full.parent.mkdir()
        (full.parent / ".a.mp4.part").symlink_to("/dev/full")  # every write: ENOSPC
        blocked = tmp_path / "blocked"
        blocked.write_text("a file where the clips folder should be")
        results = run_jobs(
            ClipJob.plan("a", feed.ring, alert.seq, alert.ts, 1, 1, full),
            ClipJob.plan("b", feed.ring, alert.seq, alert.ts, 1, 1, blocked / "day" / "b.mp4"),
        )
    finally:
        feed.close()
    disk_full, unwritable = results
    assert disk_full.state == "failed" and disk_full.path is None and not full.exists()
    assert disk_full.error is not None and "No space left on device" in disk_full.error, disk_full.error
    assert unwritable.state == "failed" and unwritable.error is not None
    assert "cannot write the clip" in unwritable.error and "blocked" in unwritable.error


def test_nothing_buffered_is_failed(tmp_path: Path) -> None:
    ring = PacketRing()
    job = ClipJob.plan("x", ring, 1, time.time(), 5, 5, tmp_path / "x.mp4")
    assert job.due() is not None
    result = write_job(job, job.due() or "")
    assert result.state == "failed" and result.error == "no video was buffered for the alert frame"


# ---------------------------------------------------------------- contract and storage


def test_schema_accepts_old_payloads_and_every_clip_state() -> None:
    base = {
        "schema": "sentinel.alert/1", "alert_id": "0b9a3c4e-1f2a-4b5c-8d6e-7f8091a2b3c4", "site": "s",
        "event_type": "crowd_gathering", "code": "X", "name": "人员聚集", "name_en": "Crowd", "severity": "normal",
        "camera_id": "c", "camera_name": "c", "zone": None, "started_at": "2026-11-22T10:00:00.000+08:00",
        "detected_at": "2026-11-22T10:00:05.000+08:00", "confidence": 0.9, "count": 3, "objects": [],
        "location": None, "grid": None, "snapshot": None, "case_id": None,
    }  # fmt: skip
    jsonschema.validate(base, SCHEMA)  # a sentinel.alert/1 payload from before clips
    Alert.model_validate(base)
    url = "/media/clips/2026-11-22/0b9a3c4e-1f2a-4b5c-8d6e-7f8091a2b3c4.mp4"
    clips = [
        AlertClip(url=url, sha256=None, start=base["started_at"], end=base["detected_at"], state="pending"),
        AlertClip(url=url, sha256="a" * 64, start=base["started_at"], end=base["detected_at"], state="ready"),
        AlertClip(url=url, sha256="a" * 64, start=None, end=None, state="partial", error="only 1.0 s ..."),
        AlertClip(url=None, sha256=None, start=None, end=None, state="failed", error="disk full"),
    ]
    for clip in clips:
        payload = Alert.model_validate({**base, "clip": clip.model_dump()}).model_dump(
            mode="json", by_alias=True
        )
        jsonschema.validate(payload, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**base, "clip": {**clips[0].model_dump(), "state": "lost"}}, SCHEMA)


def test_migration_0004_and_clip_updates(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from sentinel.storage.db import MIGRATIONS

    db = make_engine(f"sqlite:///{tmp_path / 'a.db'}")

    def alembic(conn: sa.Connection) -> AlembicConfig:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        return cfg

    with db.begin() as conn:
        command.upgrade(alembic(conn), "0003")
    store = AlertStore(db)
    old = make_alert()
    store.record(old, "t/old", None)  # a database not yet at 0004 still takes alerts
    migrate(db)
    assert "clip" in {c["name"] for c in sa.inspect(db).get_columns("alerts")}
    url = f"/media/clips/2026-11-22/{old.alert_id}.mp4"
    pending = AlertClip(url=url, sha256=None, start=old.started_at, end=old.detected_at, state="pending")
    new = make_alert().model_copy(update={"clip": pending})
    store.record(new, "t/new", None)
    ready = pending.model_copy(update={"state": "ready", "sha256": "b" * 64})
    updated = store.update_clip(new.alert_id, ready, "t/new/clip")
    assert updated is not None and updated.clip == ready
    assert store.update_clip("no-such-alert", ready, "t/x") is None
    with db.connect() as conn:
        row = conn.execute(
            sa.text("SELECT clip, payload FROM alerts WHERE id = :i"), {"i": new.alert_id}
        ).one()
        topics = [r[0] for r in conn.execute(sa.text("SELECT topic FROM outbox ORDER BY id"))]
    assert json.loads(row[0])["state"] == "ready" and json.loads(row[1])["clip"]["sha256"] == "b" * 64
    assert topics == ["t/old", "t/new", "t/new/clip"]
    jsonschema.validate(json.loads(store.pending()[-1].payload), SCHEMA)
    with db.begin() as conn:
        command.downgrade(alembic(conn), "0003")
    assert "clip" not in {c["name"] for c in sa.inspect(db).get_columns("alerts")}
    assert store.outbox_depth() == 3  # dropping the column cascaded into nothing
    db.dispose()


def test_stale_pending_clip_is_failed(tmp_path: Path) -> None:
    from sentinel.alerts.snapshot import SnapshotStore
    from sentinel.daemon.intake import AlertIntake

    db = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(db)
    store = AlertStore(db)
    alert = make_alert()
    pending = AlertClip(url=None, sha256=None, start=None, end=None, state="pending")
    store.record(alert.model_copy(update={"clip": pending}), "t", None)
    intake = AlertIntake("s", "p", TZ, store, SnapshotStore(tmp_path), {}, None)
    detected = datetime.fromisoformat(alert.detected_at)
    assert intake.fail_stale_clips(detected + timedelta(minutes=1)) == 0  # still being written
    assert intake.fail_stale_clips(detected + timedelta(minutes=11)) == 1
    clip = Alert.model_validate(store.alert(alert.alert_id).payload).clip  # type: ignore[union-attr]
    assert clip is not None and clip.state == "failed" and "worker stopped" in (clip.error or "")
    assert intake.fail_stale_clips(detected + timedelta(minutes=12)) == 0
    db.dispose()


# ---------------------------------------------------------------- end to end: RTSP → daemon → MQTT


PRE, POST = 4.0, 4.0


def clip_camera(camera_id: str, rtsp_url: str, masks: bool) -> str:
    mask = "\n    privacy_masks: [[[0, 0], [0.4, 0], [0.4, 0.3], [0, 0.3]]]" if masks else ""
    return f"""\
  - id: {camera_id}
    source: "{rtsp_url}"
    decode: keyframes
    analyze_fps: 0.5
    clip_pre: {PRE}s
    clip_post: {POST}s{mask}
    location: {{lon: 116.3975, lat: 39.9087}}
    zones: [{{name: plaza, polygon: [[0, 0.25], [1, 0.25], [1, 1], [0, 1]]}}]
    rules:
      - {{kind: count_in_zone, event_type: crowd_gathering, zone: plaza, min_count: 3, min_duration: 4s, cooldown: 1h}}
"""


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    with Mosquitto() as b:
        yield b


@pytest.fixture
def rtsp() -> Iterator[RtspServer]:
    with RtspServer({"plaza": vtest_h264(1280, 720, fps=25, gop=50)}) as server:
        yield server


@pytest.mark.slow
def test_alert_clips_end_to_end(tmp_path: Path, broker: Mosquitto, rtsp: RtspServer) -> None:
    config = daemon_config(
        tmp_path, broker.url, rtsp.url("plaza"), extra_camera=clip_camera("masked", rtsp.url("plaza"), True)
    )
    config.write_text(
        config.read_text().replace(
            '    grid: "110101001001001"\n',
            f'    grid: "110101001001001"\n    clip_pre: {PRE}s\n    clip_post: {POST}s\n',
        )
    )
    recorder = Recorder(broker.port, "sentinel/e2e/alerts/#")
    daemon = Daemon(config)
    data = tmp_path / "data"
    try:
        for camera in ("plaza", "masked"):
            topic = f"sentinel/e2e/alerts/crowd_gathering/{camera}"
            first = recorder.wait_for(lambda m, t=topic: m.topic == t, timeout=120)[0].json()
            jsonschema.validate(first, SCHEMA)
            assert first["clip"]["state"] == "pending" and first["clip"]["sha256"] is None
            assert iso_ts(first["clip"]["start"]) == pytest.approx(
                iso_ts(first["detected_at"]) - PRE, abs=0.01
            )
            assert iso_ts(first["clip"]["end"]) == pytest.approx(
                iso_ts(first["detected_at"]) + POST, abs=0.01
            )
            update = recorder.wait_for(lambda m, t=topic: m.topic == t + "/clip", timeout=60)[0].json()
            jsonschema.validate(update, SCHEMA)
            assert update["alert_id"] == first["alert_id"]
            clip, detected = update["clip"], iso_ts(update["detected_at"])
            assert clip["state"] == "ready" and clip["error"] is None, clip
            assert clip["url"] == first["clip"]["url"] and clip["url"].startswith("/media/clips/")
            path = data / clip["url"].removeprefix("/media/")
            assert path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == clip["sha256"]
            assert (
                path.parent.name == Path(first["snapshot"]["url"]).parent.name
            )  # next to the snapshot's day
            start, end = iso_ts(clip["start"]), iso_ts(clip["end"])
            assert start <= detected - PRE + 0.01  # from the keyframe at or before `pre` before the alert
            assert end >= detected + POST - 0.01
            info = ffprobe(path)
            duration = float(info["format"]["duration"])
            assert PRE + POST - 0.1 <= duration <= PRE + POST + 2.0 + 0.2, duration  # + at most one GOP (2 s)
            assert abs(duration - (end - start)) < 0.15
            frames = decode_all(path)  # decodes fully
            assert len(frames) >= round(duration * 25) - 2
            snap = cv2.imread(str(data / first["snapshot"]["url"].removeprefix("/media/")))
            assert snap is not None
            if camera == "plaza":
                # the snapshot's frame is in the clip where the clip's times put it
                t_best = min(frames, key=lambda f: float(np.abs(f[1].astype(int) - snap.astype(int)).mean()))[
                    0
                ]
                assert abs(t_best - (detected - start)) <= 0.25, (t_best, detected - start)
            else:
                polygon = np.zeros(snap.shape[:2], bool)
                polygon[: int(0.3 * 720), : int(0.4 * 1280)] = True
                assert snap[polygon].max() <= 2  # JPEG: whole black blocks
                assert all(image[polygon].max() == 0 for _, image in frames)
                assert max(image[~polygon].max() for _, image in frames) > 200
        assert not list((data / "clips" / ".incoming").iterdir())  # every staged clip was moved
    finally:
        code = daemon.stop()
        recorder.close()
    assert code == 0, daemon.output()
    db = sqlite3.connect(data / "sentinel.db")
    rows = db.execute("SELECT camera_id, clip, payload FROM alerts").fetchall()
    assert len(rows) == 2
    for _camera, clip, payload in rows:
        assert json.loads(clip) == json.loads(payload)["clip"] and json.loads(clip)["state"] == "ready"
    assert db.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0] == 0
    assert "Traceback" not in daemon.output()


@pytest.mark.slow
def test_unwritable_clip_folder_alert_still_goes_out(
    tmp_path: Path, broker: Mosquitto, rtsp: RtspServer
) -> None:
    config = daemon_config(tmp_path, broker.url, rtsp.url("plaza"))
    config.write_text(
        config.read_text().replace(
            '    grid: "110101001001001"\n',
            '    grid: "110101001001001"\n    clip_pre: 2s\n    clip_post: 2s\n',
        )
    )
    data = tmp_path / "data"
    data.mkdir()
    (data / "clips").write_text("not a folder")  # root ignores permissions: a file in the way is unwritable
    recorder = Recorder(broker.port, "sentinel/e2e/alerts/#")
    daemon = Daemon(config)
    try:
        topic = "sentinel/e2e/alerts/crowd_gathering/plaza"
        first = recorder.wait_for(lambda m: m.topic == topic, timeout=120)[0].json()
        assert first["clip"]["state"] == "pending" and first["snapshot"] is not None
        update = recorder.wait_for(lambda m: m.topic == topic + "/clip", timeout=60)[0].json()
        jsonschema.validate(update, SCHEMA)
        clip = update["clip"]
        assert clip["state"] == "failed" and clip["url"] is None and clip["sha256"] is None
        assert clip["error"].startswith("cannot write the clip: ") and "Not a directory" in clip["error"], (
            clip
        )
    finally:
        code = daemon.stop()
        recorder.close()
    assert code == 0, daemon.output()
    db = sqlite3.connect(data / "sentinel.db")
    (clip_json,) = db.execute("SELECT clip FROM alerts").fetchone()
    assert json.loads(clip_json)["state"] == "failed"
    assert "Traceback" not in daemon.output()


def test_worker_masks_snapshot_before_it_leaves(tmp_path: Path) -> None:
    """The pipeline renders the snapshot with the camera's masks (what the worker puts into EventMsg)."""
    from sentinel.daemon.messages import EventMsg
    from sentinel.daemon.worker import outcome_messages
    from sentinel.detect.detections import Detections
    from sentinel.pipeline import CameraPipeline

    camera = CameraConfig(id="c", source="/x", privacy_masks=[MASK], clip_pre=0, clip_post=0)

    class Fires:
        event_type, zone, active, uses_image = "crowd_gathering", None, True, True

        def evaluate(self, ctx: object) -> RuleEvent:
            return RuleEvent("c", "count_in_zone", "crowd_gathering", None, time.time(), time.time(), 3, 0.9)

    pipe = CameraPipeline(camera, [Fires()])  # type: ignore[list-item]
    assert pipe.ring is None  # clip_pre = clip_post = 0: no clips, no ring
    image = np.full((576, 768, 3), 200, np.uint8)
    outcome = pipe.analyse(Frame("c", image, time.time(), True, 1), Detections.empty())
    msgs = [m for m in outcome_messages(0, outcome) if isinstance(m, EventMsg)]
    assert len(msgs) == 1 and msgs[0].alert_id and msgs[0].clip is None
    assert msgs[0].snapshot_jpeg is not None
    snap = cv2.imdecode(np.frombuffer(msgs[0].snapshot_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert snap[: int(0.3 * 576), : int(0.4 * 768)].max() <= 2 and snap[500, 700].min() > 150
    assert image.min() == 200  # the frame the rules see is untouched


def test_replay_writes_clips_the_same_way(tmp_path: Path) -> None:
    config = tmp_path / "sentinel.yaml"
    config.write_text(
        "cameras:\n"
        "  - id: plaza\n    source: /dev/null\n    decode: keyframes\n    analyze_fps: 1\n"
        "    clip_pre: 3s\n    clip_post: 3s\n"
        "    privacy_masks: [[[0, 0], [0.4, 0], [0.4, 0.3], [0, 0.3]]]\n"
        "    zones: [{name: plaza, polygon: [[0, 0.25], [1, 0.25], [1, 1], [0, 1]]}]\n"
        "    rules:\n"
        "      - {kind: count_in_zone, event_type: crowd_gathering, zone: plaza, min_count: 3, min_duration: 4s,"
        " cooldown: 30s}\n"
    )
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "sentinel.cli.main", "replay", str(vtest_h264(768, 576, fps=25, gop=25)),
         "--config", str(config), "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    alerts = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    assert alerts
    polygon = np.zeros((576, 768), bool)
    polygon[: int(0.3 * 576), : int(0.4 * 768)] = True
    for alert in alerts:
        jsonschema.validate(alert, SCHEMA)
        clip = alert["clip"]
        assert clip["state"] in ("ready", "partial"), clip  # the last one may run into the end of the file
        path = out / clip["url"].removeprefix("/media/")
        assert hashlib.sha256(path.read_bytes()).hexdigest() == clip["sha256"]
        assert iso_ts(clip["start"]) <= iso_ts(alert["detected_at"]) - 3 + 0.01
        frames = decode_all(path)
        assert frames and all(image[polygon].max() == 0 for _, image in frames)  # masks burned in
        snap = cv2.imread(str(out / alert["snapshot"]["url"].removeprefix("/media/")))
        assert snap[polygon].max() <= 2
    assert alerts[0]["clip"]["state"] == "ready"
