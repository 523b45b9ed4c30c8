"""Privacy masks: validated like zones, grown to whole blocks, plain black in snapshots (after JPEG) and in
the console's live view, on real footage."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from sentinel.config.models import CameraConfig
from sentinel.detect.privacy import BLOCK, PrivacyMask, apply_privacy_masks, mask_pixels, privacy_mask_of
from sentinel.detect.rules import SeenObject
from sentinel.pipeline.snapshot import render_snapshot
from tests.support.footage import vtest_h264

WINDOW = [(0.55, 0.05), (0.9, 0.05), (0.9, 0.4), (0.55, 0.4)]
TRIANGLE = [(0.05, 0.6), (0.3, 0.95), (0.05, 0.95)]


def real_frame() -> np.ndarray:
    with av.open(str(vtest_h264(768, 576, fps=25, gop=25))) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i == 100:
                return frame.to_ndarray(format="bgr24")
    raise AssertionError("short footage")


def polygon_pixels(shape: tuple[int, int], poly: list[tuple[float, float]]) -> np.ndarray:
    h, w = shape
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [np.round(np.array(poly) * [w, h]).astype(np.int32)], 1)
    return m.astype(bool)


def test_config_validates_masks_like_zones() -> None:
    cam = CameraConfig(id="c", source="/x", privacy_masks=[WINDOW, TRIANGLE])
    assert len(cam.privacy_masks) == 2 and CameraConfig(id="c", source="/x").privacy_masks == []
    for bad, message in (
        ([[(0, 0), (1, 1)]], "mask 0: a polygon needs at least 3 points"),
        ([WINDOW, [(0, 0), (1.2, 0), (1, 1)]], "mask 1: point [1.2, 0.0] is outside the image"),
        ([[(0, 0), (1, 1), (1, 0), (0, 1)]], "mask 0: polygon crosses itself"),
    ):
        with pytest.raises(ValidationError) as err:
            CameraConfig(id="c", source="/x", privacy_masks=bad)
        assert message in str(err.value)


def test_mask_covers_the_polygon_in_whole_blocks() -> None:
    h, w = 576, 768
    mask = mask_pixels(h, w, [WINDOW, TRIANGLE])
    for poly in (WINDOW, TRIANGLE):
        assert mask[polygon_pixels((h, w), poly)].all()
    blocks = mask.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK)
    assert (blocks.all(axis=(1, 3)) == blocks.any(axis=(1, 3))).all()  # whole blocks only
    grown = mask.sum() / (polygon_pixels((h, w), WINDOW) | polygon_pixels((h, w), TRIANGLE)).sum()
    assert 1.0 < grown < 1.6  # a margin, not half the picture
    assert not mask_pixels(h, w, []).any()
    odd = mask_pixels(577, 770, [WINDOW])  # sizes that are not multiples of 16
    assert odd.shape == (577, 770) and odd[polygon_pixels((577, 770), WINDOW)].all()


def test_snapshot_masked_region_is_plain_black_on_real_footage() -> None:
    image = real_frame()
    assert image[polygon_pixels(image.shape[:2], WINDOW)].max() > 100  # there is something to hide
    person = SeenObject("person", 0.9, (0.5, 0.0, 0.95, 0.5))  # a box across the mask
    zone = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]  # the zone tint covers the mask too
    jpeg = render_snapshot(image, [person], zone, privacy=PrivacyMask([WINDOW, TRIANGLE]))
    snap = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    for poly in (WINDOW, TRIANGLE):
        region = snap[polygon_pixels(snap.shape[:2], poly)]
        assert region.max() <= 2, region.max()  # JPEG of whole black blocks: black, give or take 1-2
    outside = ~mask_pixels(*snap.shape[:2], [WINDOW, TRIANGLE])
    assert snap[outside].mean() > 40  # the rest of the picture is there
    plain = cv2.imdecode(np.frombuffer(render_snapshot(image, [person], zone), np.uint8), cv2.IMREAD_COLOR)
    assert plain[polygon_pixels(plain.shape[:2], WINDOW)].max() > 100  # no masks: nothing hidden


def test_apply_privacy_masks_for_the_console() -> None:
    image = real_frame()
    cam = CameraConfig(id="c", source="/x", privacy_masks=[WINDOW])
    out = apply_privacy_masks(image, cam)
    assert out is not image and image[polygon_pixels(image.shape[:2], WINDOW)].max() > 100  # input untouched
    assert out[mask_pixels(*image.shape[:2], [WINDOW])].max() == 0
    outside = ~mask_pixels(*image.shape[:2], [WINDOW])
    assert (out[outside] == image[outside]).all()
    bare = CameraConfig(id="d", source="/x")
    assert apply_privacy_masks(image, bare) is image  # no masks: no copy
    assert privacy_mask_of(cam) is privacy_mask_of(cam.model_copy())  # rasterised once per mask set


def test_yuv_planes_are_video_black() -> None:
    mask = PrivacyMask([WINDOW])
    y = np.full((576, 768), 200, np.uint8)
    u = np.full((288, 384), 90, np.uint8)
    v = np.full((288, 384), 160, np.uint8)
    mask.apply_yuv420(y, u, v)
    full = mask.pixels(576, 768)
    assert (y[full] == 16).all() and (y[~full] == 200).all()
    assert (u[full[::2, ::2]] == 128).all() and (v[full[::2, ::2]] == 128).all()
    assert (u[~full[::2, ::2]] == 90).all()
