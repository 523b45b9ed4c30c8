"""`sentinel camera urls` (known RTSP paths, tried on a real RTSP server) and `sentinel camera snapshot`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from sentinel.cli.main import main
from sentinel.config.models import CameraConfig
from sentinel.detect.annotate import draw_overlay
from sentinel.ingest.snapshot_grab import grab_frame, suggest_decode
from sentinel.ingest.sources import source_for
from sentinel.ingest.url_patterns import split_host_port, stream_urls
from tests.support.footage import vtest_h264
from tests.support.servers import HOST, RtspServer, free_port

PASSWORD = "Rtsp-Pa55"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAM_PW", PASSWORD)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["camera", *argv])
    out = capsys.readouterr()
    assert PASSWORD not in out.out + out.err, "a password was printed"
    assert "Traceback" not in out.err
    return code, out.out, out.err


# ---------------------------------------------------------------- url patterns


@pytest.mark.parametrize(
    ("make", "channel", "main_path", "sub_path"),
    [
        ("hikvision", 1, "/Streaming/Channels/101", "/Streaming/Channels/102"),
        ("hikvision", 2, "/Streaming/Channels/201", "/Streaming/Channels/202"),
        ("hikvision", 12, "/Streaming/Channels/1201", "/Streaming/Channels/1202"),
        ("dahua", 1, "/cam/realmonitor?channel=1&subtype=0", "/cam/realmonitor?channel=1&subtype=1"),
        ("dahua", 3, "/cam/realmonitor?channel=3&subtype=0", "/cam/realmonitor?channel=3&subtype=1"),
        ("uniview", 1, "/unicast/c1/s0/live", "/unicast/c1/s1/live"),
        ("uniview", 4, "/unicast/c4/s0/live", "/unicast/c4/s1/live"),
    ],
)
def test_url_patterns_are_exact(make: str, channel: int, main_path: str, sub_path: str) -> None:
    urls = stream_urls(make, "192.0.2.10", channel=channel, user="admin", password_ref="${CAM_PW}")
    assert urls.main == f"rtsp://admin:${{CAM_PW}}@192.0.2.10:554{main_path}"
    assert urls.sub == f"rtsp://admin:${{CAM_PW}}@192.0.2.10:554{sub_path}"
    bare = stream_urls(make, "192.0.2.10", port=10554, channel=channel)
    assert (bare.main, bare.sub) == (
        f"rtsp://192.0.2.10:10554{main_path}",
        f"rtsp://192.0.2.10:10554{sub_path}",
    )


def test_url_pattern_errors_and_host_parsing() -> None:
    with pytest.raises(ValueError, match="unknown make"):
        stream_urls("axis", "h")
    with pytest.raises(ValueError, match="start at 1"):
        stream_urls("dahua", "h", channel=0)
    assert split_host_port("10.0.0.5", 554) == ("10.0.0.5", 554)
    assert split_host_port("10.0.0.5:8554", 554) == ("10.0.0.5", 8554)
    assert split_host_port("[fe80::1]:80", 554) == ("fe80::1", 80)
    assert split_host_port("fe80::1", 554) == ("fe80::1", 554)
    assert stream_urls("uniview", "fe80::1").main == "rtsp://[fe80::1]:554/unicast/c1/s0/live"
    for bad in ("", "a:b", "h:0", "h:70000", "rtsp://h", "u@h"):
        with pytest.raises(ValueError):
            split_host_port(bad, 554)


def test_urls_command_prints_exact_lines(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "urls",
        "192.0.2.10",
        "--make",
        "dahua",
        "--channel",
        "2",
        "--user",
        "admin",
        "--password-env",
        "CAM_PW",
    )
    assert code == 0
    assert out == (
        "dahua channel 2:\n"
        "  main: rtsp://admin:${CAM_PW}@192.0.2.10:554/cam/realmonitor?channel=2&subtype=0\n"
        "  sub:  rtsp://admin:${CAM_PW}@192.0.2.10:554/cam/realmonitor?channel=2&subtype=1\n"
    )
    code, out, _ = run(capsys, "urls", "192.0.2.10:8554", "--make", "hikvision")
    assert out.splitlines()[1:] == [
        "  main: rtsp://192.0.2.10:8554/Streaming/Channels/101",
        "  sub:  rtsp://192.0.2.10:8554/Streaming/Channels/102",
    ]


@pytest.fixture(scope="module")
def hik_rtsp() -> Iterator[RtspServer]:
    """A 'Hikvision' that serves only its sub stream path (the main one answers 404)."""
    with RtspServer(
        {"Streaming/Channels/102": vtest_h264(640, 360)}, user="admin", password=PASSWORD
    ) as server:
        yield server


@pytest.mark.slow
def test_urls_try_reports_which_opens(hik_rtsp: RtspServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "urls", f"{HOST}:{hik_rtsp.port}", "--make", "hikvision", "--try", "--user", "admin",
        "--password-env", "CAM_PW",
    )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert lines[3] == (
        f"tried main: fails: rtsp://admin:***@{HOST}:{hik_rtsp.port}/Streaming/Channels/101: "
        "stream not found (404): check the path"
    )
    assert lines[4] == "tried sub:  opens: H264 640x360, 25 fps, keyframe every 2.0 s, GOP 50 frames", out


@pytest.mark.slow
def test_urls_try_wrong_password_fails_with_exit_1(
    hik_rtsp: RtspServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAD_PW", "wrong-one")
    code, out, _ = run(
        capsys, "urls", f"{HOST}:{hik_rtsp.port}", "--make", "hikvision", "--try", "--user", "admin",
        "--password-env", "BAD_PW",
    )  # fmt: skip
    assert code == 1
    assert "authentication failed (401 Unauthorized)" in out.splitlines()[4]
    assert "wrong-one" not in out


# ---------------------------------------------------------------- snapshot


@pytest.fixture(scope="module")
def clip() -> Path:
    return vtest_h264(1280, 720)


def imread(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, f"{path} is not an image"
    return image


def grid_x(value: float, width: int) -> int:
    return round(value * (width - 1))


def test_snapshot_of_a_file_has_the_grid(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "view.png"
    code, out, err = run(capsys, "snapshot", str(clip), "--out", str(out_file))
    assert code == 0, err
    assert out == f"wrote {out_file} (1280x720, grid 0.1)\n"
    image = imread(out_file)
    assert image.shape == (720, 1280, 3)
    raw = grab_frame(source_for(str(clip)), CameraConfig(id="x", source=str(clip)))
    # grid lines at every 0.1 (white), 0.5 in yellow, away from the labels
    for v in (0.1, 0.2, 0.3, 0.7, 0.9):
        assert tuple(image[400, grid_x(v, 1280)]) == (255, 255, 255)
        assert tuple(image[grid_x(v, 720), 640 + 37]) == (255, 255, 255)
    assert tuple(image[400, grid_x(0.5, 1280)]) == (0, 255, 255)
    # between the lines the picture is the camera's own
    assert np.abs(image[300:340, 200:240].astype(int) - raw[300:340, 200:240].astype(int)).max() <= 2
    # labels: "0.3" written near the top of its line and at the left edge of its row
    assert (
        image[2:30, grid_x(0.3, 1280) + 2 : grid_x(0.3, 1280) + 50]
        != raw[2:30, grid_x(0.3, 1280) + 2 : grid_x(0.3, 1280) + 50]
    ).any()
    assert (
        image[grid_x(0.3, 720) - 25 : grid_x(0.3, 720) - 2, 2:40]
        != raw[grid_x(0.3, 720) - 25 : grid_x(0.3, 720) - 2, 2:40]
    ).any()


def test_snapshot_by_camera_id_draws_its_zones(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "sentinel.yaml"
    config.write_text(
        "cameras:\n"
        "  - id: plaza\n"
        f"    source: {clip}\n"
        "    zones:\n"
        "      - name: stalls\n"
        "        polygon: [[0.23, 0.62], [0.57, 0.62], [0.57, 0.87], [0.23, 0.87]]\n"
        "  - id: other\n"
        "    source: rtsp://admin:${UNSET_VAR_IN_ANOTHER_CAMERA}@192.0.2.1/x\n"
    )
    out_file = tmp_path / "plaza.jpg"
    code, out, err = run(
        capsys, "snapshot", "plaza", "--config", str(config), "--zones", "--out", str(out_file)
    )
    assert code == 0, err
    assert out == f"wrote {out_file} (1280x720, grid 0.1, zones stalls)\n"
    image = imread(out_file)
    assert image.shape == (720, 1280, 3)
    assert out_file.read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG
    # the zone's bottom edge (y = 0.87) in the zone colour (orange, BGR 0,200,255), JPEG-tolerant
    y = grid_x(0.87, 720)
    edge = image[y - 1 : y + 2, 400:600].reshape(-1, 3).astype(int)
    assert (np.abs(edge - [0, 200, 255]).max(axis=1) < 60).mean() > 0.3


def test_snapshot_over_rtsp_with_credentials_from_env(
    hik_rtsp: RtspServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"rtsp://admin:${{CAM_PW}}@{HOST}:{hik_rtsp.port}/Streaming/Channels/102"
    out_file = tmp_path / "sub.png"
    code, out, err = run(capsys, "snapshot", url, "--out", str(out_file), "--no-grid")
    assert code == 0, err
    assert imread(out_file).shape == (360, 640, 3)


def test_snapshot_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], clip: Path) -> None:
    port = free_port()
    code, _, err = run(
        capsys, "snapshot", f"rtsp://admin:${{CAM_PW}}@{HOST}:{port}/x", "--out", str(tmp_path / "a.png")
    )
    assert code == 1
    assert (
        err
        == f"sentinel camera: rtsp://admin:***@{HOST}:{port}/x: connection refused (is the camera or server up, and the port right?)\n"
    )
    code, _, err = run(capsys, "snapshot", str(clip), "--zones", "--out", str(tmp_path / "a.png"))
    assert code == 2 and "--zones: a URL has no zones" in err
    code, _, err = run(capsys, "snapshot", str(clip), "--out", str(tmp_path / "a.gif"))
    assert code == 2 and "use a .png, .jpg or .jpeg" in err
    code, _, err = run(
        capsys,
        "snapshot",
        "nosuchcam",
        "--config",
        str(tmp_path / "none.yaml"),
        "--out",
        str(tmp_path / "a.png"),
    )
    assert code == 2 and "file not found" in err
    assert not (tmp_path / "a.png").exists()


def test_overlay_without_zones_or_grid_is_the_picture() -> None:
    image = np.full((100, 200, 3), 77, np.uint8)
    assert (draw_overlay(image, [], step=None) == image).all()


@pytest.mark.parametrize(
    ("gop", "decode", "fps"),
    [
        (None, "auto", 1.0),
        (1.0, "keyframes", 1.0),
        (2.0, "keyframes", 0.5),
        (4.0, "keyframes", 0.25),
        (10.0, "all", 1.0),
    ],
)
def test_decode_suggestion_from_gop(gop: float | None, decode: str, fps: float) -> None:
    s = suggest_decode(gop)
    assert (s.decode, s.analyze_fps) == (decode, fps)
