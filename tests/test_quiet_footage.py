"""The quiet-street footage of `bench/cameras.py --footage quiet` (bench/_quiet_footage.py), built small:
the empty view is vtest's background with noise, and the person crossing is there, where and when the recipe
says, for the real detector."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from bench import _quiet_footage
from bench._quiet_footage import Quiet, quiet_street
from bench.scenarios import plate
from tests.support.footage import vtest_path

REPO = Path(__file__).resolve().parents[1]


def test_quiet_footage_is_a_still_street_with_a_person_crossing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vtest_path()  # skips without opencv-doc
    monkeypatch.setattr(_quiet_footage, "CACHE_DIR", tmp_path)
    q = Quiet(seconds=6, every=10.0, first=1.0, crossing=4.0, width=768, height=576, fps=5, gop=10)
    path = quiet_street(q)
    assert path.parent == tmp_path and quiet_street(q) == path  # the second call takes the cached file

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and (s.codec_context.width, s.codec_context.height) == (
            768,
            576,
        )
        frames = [(f.key_frame, f.to_ndarray(format="bgr24")) for f in c.decode(video=0)]
    assert len(frames) == 30
    with av.open(str(path)) as c:  # one slice per picture, like the busy footage (vtest_h264)
        first = bytes(next(c.demux(video=0)))
    nals, i = [], 0
    while i + 4 <= len(first):
        nals.append(first[i + 4] & 0x1F)
        i += 4 + int.from_bytes(first[i : i + 4], "big")
    assert nals.count(5) == 1, nals
    assert [i for i, (key, _) in enumerate(frames) if key] == [0, 10, 20]

    bg = plate().astype(np.float32)
    empty = frames[2][1].astype(np.float32)  # t = 0.4 s: before the crossing
    assert np.abs(empty - bg).mean() < 4.0  # the still view, noise and coding aside
    assert np.abs(frames[3][1].astype(np.float32) - empty).mean() > 0.5  # noise differs frame to frame

    from sentinel.detect.detectors import load_nanodet

    detector = load_nanodet(REPO / "models" / "nanodet-g-416.yaml")
    person = list(detector.class_names).index("person")
    # t = 0.4 (nobody), 2.0 and 4.0 s (a quarter and three quarters of the way, left to right)
    dets = detector.detect([frames[2][1], frames[10][1], frames[20][1]])

    def people(d: object) -> np.ndarray:
        keep = (d.class_id == person) & (d.score >= 0.4)  # type: ignore[attr-defined]
        return d.xyxy[keep]  # type: ignore[attr-defined]

    assert len(people(dets[0])) == 0
    a, b = people(dets[1]), people(dets[2])
    assert len(a) == 1 and len(b) == 1, (a, b)
    xa, xb = (a[0, 0] + a[0, 2]) / 2, (b[0, 0] + b[0, 2]) / 2
    assert 0.15 < xa < 0.4 and 0.6 < xb < 0.85  # where the walk puts them: (-40 + 848 u) / 768
    assert q.person_at(2.0) and not q.person_at(0.4) and not q.person_at(5.5)
