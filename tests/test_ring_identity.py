"""The packet ring after issue 19's per-packet work holds and hands out exactly what it did before: the same
packets (bytes, timestamps, flags, positions), the same evictions, and clips with the same bytes. The ring as
it was is kept in bench/_ingest_before.py for the ingest bench; both are fed the same real packets."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import av

from bench._ingest_before import PacketRingBefore
from sentinel.ingest.packet_ring import PacketRing, RingPacket
from sentinel.pipeline.clips import ClipJob, write_job
from tests.support.footage import vtest_h264


def fields(packets: list[RingPacket]) -> list[tuple[Any, ...]]:
    """Everything but the arrival wall time."""
    return [(p.n, p.segment, p.data, p.pts, p.dts, p.duration, p.keyframe, p.t, p.ct) for p in packets]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_ring_and_clips_identical_to_the_ring_before(tmp_path: Path) -> None:
    clip = vtest_h264(768, 576, fps=25, gop=50)
    with av.open(str(clip)) as c:  # packets are offered while their container is open, as the reader does
        packets = [p for p in c.demux(c.streams.video[0]) if p.size]
        new, old = PacketRing(max_seconds=6.0), PacketRingBefore(max_seconds=6.0)
        small_new = PacketRing(max_seconds=60.0, max_bytes=300_000)  # the byte bound evicts too
        small_old = PacketRingBefore(max_seconds=60.0, max_bytes=300_000)
        jobs: list[tuple[ClipJob, ClipJob]] = []
        for i, p in enumerate(packets[:700]):  # 28 s
            for ring in (new, old, small_new, small_old):
                ring.offer(p)
            assert new.stats() == old.stats() and small_new.stats() == small_old.stats()  # evictions too
            if i % 50 == 37:  # positions, bounds and what a clip writer gets agree all along
                assert new.dropped_bytes == old.dropped_bytes == 0 < small_new.dropped_bytes or i < 300
                assert small_new.dropped_bytes == small_old.dropped_bytes
                sid = new.current_segment
                assert sid == old.current_segment and sid is not None
                assert fields(new.take_from(sid, p.pts * p.time_base - 3)) == fields(
                    old.take_from(sid, p.pts * p.time_base - 3)
                )
                assert fields(new.take_after(sid, i - 30, 1e9)) == fields(old.take_after(sid, i - 30, 1e9))
                newest_new, newest_old = new.newest(), old.newest()
                assert newest_new is not None and newest_old is not None
                assert fields([newest_new]) == fields([newest_old])
            if i in (150, 400):  # an alert: a clip 2 s before, 3 s after (pinned while it waits)
                new.note_frame(i)
                old.note_frame(i)
                now = time.time()
                jobs.append(
                    (
                        ClipJob.plan(f"n{i}", new, i, now, 2, 3, tmp_path / f"n{i}.mp4"),
                        ClipJob.plan(f"o{i}", old, i, now, 2, 3, tmp_path / f"o{i}.mp4"),  # type: ignore[arg-type]
                    )
                )
        assert len(fields(new.take_from(0, 0.0))) > 100
        for job_new, job_old in jobs:
            assert job_new.due() == job_old.due() == ""
            a, b = write_job(job_new, ""), write_job(job_old, "")
            assert a.state == b.state == "ready" and a.path is not None and b.path is not None
            assert a.sha256 == b.sha256 == sha(a.path) == sha(b.path)
            assert (a.start, a.end) == (b.start, b.end)
            with av.open(str(a.path)) as out:  # and the clip holds the file's packets, bit for bit
                written = [bytes(q) for q in out.demux(out.streams.video[0]) if q.size]
            first = next(i for i, p in enumerate(packets) if bytes(p) == written[0])
            assert written == [bytes(p) for p in packets[first : first + len(written)]]
            assert len(written) >= 5 * 25
