"""Privacy masks in every picture that leaves the worker or the console, through the real code paths on real
footage: the console's live view (`/api/cameras/{id}/snapshot`), replay's annotated video and contact
sheet, and `sentinel camera snapshot` of a camera. (Alert snapshots and clips: tests/test_privacy.py,
tests/test_clips.py.) The mask sits on a part of the picture with something in it (checked unmasked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from sentinel.cli.main import main as cli_main
from sentinel.detect.privacy import mask_pixels
from tests.support.browser import PASSWORD, console_world
from tests.support.footage import vtest_h264
from tests.test_privacy import WINDOW, polygon_pixels

JPEG_BLACK = 3  # whole black blocks survive JPEG as 0, give or take a little
VIDEO_BLACK = 8  # H.264 video black (Y 16) back in BGR


def _masked_region(image: np.ndarray, poly: list[tuple[float, float]] = WINDOW) -> np.ndarray:
    return image[polygon_pixels(image.shape[:2], poly)]


def test_console_live_view_is_masked(tmp_path: Path) -> None:
    with console_world(tmp_path) as world:
        world.add_user("tom", "technician", PASSWORD)
        camera = world.config.cameras[0]  # plaza-north, on real footage, with a zone across the mask
        with world.client(world.token("tom")) as c:
            r = c.get(f"/api/cameras/{camera.id}/snapshot")
            assert r.status_code == 200, r.text
            plain = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
            assert _masked_region(plain).max() > 100  # no masks yet: the window shows
            world.config.cameras[0] = camera.model_copy(update={"privacy_masks": [WINDOW]})
            r = c.get(f"/api/cameras/{camera.id}/snapshot")
            assert r.status_code == 200, r.text
    view = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert _masked_region(view).max() <= JPEG_BLACK, _masked_region(view).max()
    outside = ~mask_pixels(*view.shape[:2], [WINDOW])
    assert view[outside].mean() > 40  # the rest of the view is there


def _replay_config(tmp_path: Path) -> Path:
    path = tmp_path / "sentinel.yaml"
    path.write_text(
        "cameras:\n"
        "  - id: plaza\n    source: /dev/null\n    decode: keyframes\n    analyze_fps: 1\n"
        f"    privacy_masks: [{json.dumps([list(p) for p in WINDOW])}]\n"
        "    zones: [{name: plaza, polygon: [[0, 0.25], [1, 0.25], [1, 1], [0, 1]]}]\n"
        "    rules:\n"
        "      - {kind: count_in_zone, event_type: crowd_gathering, zone: plaza, min_count: 3,"
        " min_duration: 4s, cooldown: 30s}\n"
    )
    return path


@pytest.mark.slow
def test_replay_video_and_contact_sheet_are_masked(tmp_path: Path) -> None:
    clip = vtest_h264(768, 576, fps=25, gop=25)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "sentinel.cli.main", "replay", str(clip), "--config", str(_replay_config(tmp_path)),
         "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with av.open(str(clip)) as c:
        source = next(iter(c.decode(video=0))).to_ndarray(format="bgr24")
    assert _masked_region(source).max() > 100
    frames = 0
    with av.open(str(out / "annotated.mp4")) as c:
        for frame in c.decode(video=0):
            image = frame.to_ndarray(format="bgr24")
            assert _masked_region(image).max() <= VIDEO_BLACK, (frames, _masked_region(image).max())
            frames += 1
    assert frames > 50
    assert image[~mask_pixels(*image.shape[:2], [WINDOW])].mean() > 40

    alerts = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    assert alerts, proc.stdout
    sheet = cv2.imread(str(out / "contact_sheet.jpg"))
    tile_h = round(320 * 576 / 768)
    for i in range(min(len(alerts), 4)):  # the first row of tiles
        tile = sheet[:tile_h, 320 * i : 320 * (i + 1)]
        region = polygon_pixels(tile.shape[:2], WINDOW)
        region[:21] = False  # the label band
        assert tile[region].max() <= JPEG_BLACK, (i, tile[region].max())


def test_camera_snapshot_of_a_camera_is_masked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = vtest_h264(768, 576, fps=25, gop=25)
    config = tmp_path / "sentinel.yaml"
    config.write_text(
        f"cameras:\n  - id: plaza\n    source: {clip}\n"
        f"    privacy_masks: [{json.dumps([list(p) for p in WINDOW])}]\n"
    )
    by_id, by_url = tmp_path / "plaza.png", tmp_path / "url.png"
    assert cli_main(["camera", "snapshot", "plaza", "--config", str(config), "--out", str(by_id)]) == 0
    assert capsys.readouterr().out == f"wrote {by_id} (768x576, grid 0.1, privacy masks 1)\n"
    assert cli_main(["camera", "snapshot", str(clip), "--out", str(by_url), "--no-grid"]) == 0
    masked, raw = cv2.imread(str(by_id)), cv2.imread(str(by_url))
    assert _masked_region(raw).max() > 100  # a URL: the picture as the camera sends it
    assert _masked_region(masked).max() == 0  # PNG: exactly black, grid lines and labels included
    outside = ~mask_pixels(*raw.shape[:2], [WINDOW])
    assert masked[outside].mean() > 40
