"""Clips play and seek in the browser: `/media/clips/...` answers HTTP Range requests (Starlette's FileResponse
does; `starlette>=0.39` is required for it) with 206 Partial Content, `Accept-Ranges: bytes` and
`Content-Range`, and 416 for a range past the end. On a real uvicorn over a real H.264 clip, and in headless
Chromium, whose <video> can seek only when the server serves byte ranges."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.support.ui import WebDriverWait

from sentinel.alerts.models import AlertRow
from tests.support.browser import PASSWORD, ConsoleWorld, chromium, console_world, vtest_snapshot
from tests.support.footage import vtest_h264
from tests.test_console_browser import sign_in


@pytest.fixture
def clip_world(tmp_path: Path) -> Iterator[tuple[ConsoleWorld, str, bytes]]:
    """The console with one alert whose clip is written, as the intake records it: (world, clip URL, file)."""
    with console_world(tmp_path) as world:
        world.add_user("olga", "operator")
        alert = world.record_alert("garbage_exposed", vtest_snapshot())
        day = alert.detected_at[:10]
        clip = world.data_dir / "clips" / day / f"{alert.alert_id}.mp4"
        clip.parent.mkdir(parents=True)
        shutil.copyfile(vtest_h264(768, 576, fps=25, gop=25), clip)
        url = f"/media/clips/{day}/{alert.alert_id}.mp4"
        with world.deps.sessions.begin() as s:
            row = s.get(AlertRow, alert.alert_id)
            assert row is not None
            row.payload = {
                **row.payload,
                "clip": {
                    "url": url,
                    "sha256": "x",
                    "start": None,
                    "end": None,
                    "state": "ready",
                    "error": None,
                },
            }
        yield world, url, clip.read_bytes()


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, None),  # to the end
        ("bytes=-500", -500, None),  # the last 500 bytes
        ("bytes=0-99999999", 0, None),  # an end past the file is cut at it
    ],
)
def test_a_clip_range_is_206_with_its_content_range(
    clip_world: tuple[ConsoleWorld, str, bytes], header: str, first: int, last: int | None
) -> None:
    world, url, data = clip_world
    size = len(data)
    start = first % size
    end = size - 1 if last is None else last
    with world.client(world.token("olga")) as c:
        r = c.get(url, headers={"Range": header})
    assert r.status_code == 206, (r.status_code, r.text[:200])
    assert r.headers["accept-ranges"] == "bytes" and r.headers["content-type"] == "video/mp4"
    assert r.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert r.content == data[start : end + 1] and int(r.headers["content-length"]) == end + 1 - start


def test_a_whole_clip_says_it_takes_ranges_and_a_range_past_the_end_is_416(
    clip_world: tuple[ConsoleWorld, str, bytes],
) -> None:
    world, url, data = clip_world
    size = len(data)
    with world.client(world.token("olga")) as c:
        whole = c.get(url)
        assert whole.status_code == 200 and whole.content == data
        assert whole.headers["accept-ranges"] == "bytes"
        past = c.get(url, headers={"Range": f"bytes={size}-{size + 10}"})
        assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"
        # a stale If-Range (the file changed since): the whole file, not a piece of the new one
        stale = c.get(url, headers={"Range": "bytes=0-9", "If-Range": '"not-the-etag"'})
        assert stale.status_code == 200 and stale.content == data
    with world.client() as c:  # ranges do not get around sign-in
        assert c.get(url, headers={"Range": "bytes=0-9"}).status_code == 401


def test_chromium_seeks_in_a_clip(clip_world: tuple[ConsoleWorld, str, bytes]) -> None:
    world, url, _ = clip_world
    driver: Any = chromium(1200, 900)
    try:
        sign_in(driver, world.url, "olga", PASSWORD)
        WebDriverWait(driver, 10).until(lambda d: not d.current_url.rstrip("/").endswith("/login"))
        # a <video> on the signed-in page (the session cookie goes with its requests), as the viewer plays it
        driver.execute_script(
            "const v = document.createElement('video'); v.id = 'seek-probe'; v.muted = true;"
            "v.preload = 'auto'; v.src = arguments[0]; document.body.appendChild(v);",
            url,
        )
        probe = "const v = document.getElementById('seek-probe');"
        state = WebDriverWait(driver, 20).until(
            lambda d: d.execute_script(
                probe + "if (v.error) return {error: v.error.code};"
                "return v.readyState >= 1 ? {duration: v.duration, seekable: v.seekable.length ?"
                " v.seekable.end(0) : 0} : null;"
            )
        )
        assert "error" not in state, f"the clip did not load: media error {state}"
        assert state["duration"] > 10 and state["seekable"] == pytest.approx(state["duration"], abs=0.5), (
            state
        )
        target = round(state["duration"] * 0.75, 1)
        driver.execute_script(
            probe + "window.seekedAt = null; v.addEventListener('seeked', () => { window.seekedAt ="
            " v.currentTime; }, {once: true}); v.currentTime = arguments[0];",
            target,
        )
        seeked = WebDriverWait(driver, 20).until(lambda d: d.execute_script("return window.seekedAt"))
        assert seeked == pytest.approx(target, abs=1.0), (seeked, target)
    finally:
        driver.quit()
