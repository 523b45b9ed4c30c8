"""Shared fixtures.  Real servers live in ``tests/support`` (import them as ``tests.support.*``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.footage import vtest_h264
from tests.support.servers import Mosquitto, RtspServer


@pytest.fixture(scope="session")
def footage_720p() -> Path:
    """vtest.avi as 1280x720 25 fps H.264, keyframe every 50 frames (cached MP4)."""
    return vtest_h264(1280, 720)


@pytest.fixture
def mqtt_broker() -> Iterator[Mosquitto]:
    """A private Mosquitto on 127.0.0.1:<free port>; ``.url``, ``.port``, ``.stop()``, ``.start()``."""
    with Mosquitto() as broker:
        yield broker


@pytest.fixture
def rtsp_server(footage_720p: Path) -> Iterator[RtspServer]:
    """RTSP server with one mount ``cam1`` looping the 720p footage; ``.url("cam1")``."""
    with RtspServer({"cam1": footage_720p}) as server:
        yield server
