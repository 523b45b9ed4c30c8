"""Smoke test of the street-order scenarios (bench/scenarios_street.py): a short clip of each family is built
and checked against its ground truth pixel by pixel (the picture changes where the objects are put down, from
the moment each is, and nowhere else), and every shipped street scenario's ground truth is consistent with
the street camera's zones (each object's feet inside the zone its rule watches)."""

from __future__ import annotations

import dataclasses

import av
import cv2
import numpy as np
import pytest

from bench import _cameras
from bench.scenarios import Park, write_clip
from bench.scenarios_street import Place, smoke_street, street_scenarios
from tests.support.footage import vtest_path

W, H = 768, 576
ZONE_OF = {r["event_type"]: r["zone"] for r in _cameras.street("t")["rules"]}


def decoded(path: object) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


@pytest.mark.parametrize("s", smoke_street(), ids=lambda s: s.name)
def test_street_clip_shows_each_object_from_its_moment_and_nowhere_else(s: object) -> None:
    vtest_path()
    assert isinstance(s.inject, Place)  # type: ignore[attr-defined]
    why = s.available()  # type: ignore[attr-defined]
    if why is not None:
        pytest.skip(why)
    frames = decoded(write_clip(s))  # type: ignore[arg-type]
    assert len(frames) == round(s.duration * s.fps)  # type: ignore[attr-defined]
    base = dataclasses.replace(s, inject=None).scene()  # type: ignore[call-overload]
    place: Place = s.inject  # type: ignore[attr-defined]
    boxes = [tuple(int(round(v)) for v in b) for b in place.boxes()]
    outside = np.ones((H, W), bool)
    for x1, y1, x2, y2 in boxes:
        outside[max(y1 - 4, 0) : y2 + 4, max(x1 - 4, 0) : x2 + 4] = False
    for i, f in enumerate(frames):
        t = i / s.fps  # type: ignore[attr-defined]
        d = np.abs(f.astype(np.int16) - base(t).astype(np.int16)).max(axis=2)
        assert np.percentile(d[outside], 99) < 10, t  # codec noise only, away from the objects
        for (x1, y1, x2, y2), (_, _, _, t0) in zip(boxes, place.items, strict=True):
            shown = float(d[y1:y2, x1:x2].mean())
            if t < t0:
                assert shown < 6, (t, t0)  # not there yet (codec noise: 3-4.5)
            else:
                assert shown > 12, (t, t0)  # put down at t0 and left there (about 30)


def test_every_street_event_is_put_down_inside_its_rules_zone() -> None:
    for s in street_scenarios():
        if s.event_type is None:
            continue
        zone = np.array(_cameras.STREET_ZONES[ZONE_OF[s.event_type]], np.float32) * [W, H]
        feet = (
            [(x, y) for _, (x, y), _, _ in s.inject.items]
            if isinstance(s.inject, Place)
            else [s.inject.at]
            if isinstance(s.inject, Park)
            else []
        )
        assert feet, s.name
        for x, y in feet:
            assert cv2.pointPolygonTest(zone.astype(np.float32), (float(x), float(y)), False) >= 0, (
                s.name,
                x,
                y,
            )
        if isinstance(s.inject, Place):
            assert 1 <= s.inject.need <= len(s.inject.items)
            assert s.onset == sorted(t for *_, t in s.inject.items)[s.inject.need - 1]
