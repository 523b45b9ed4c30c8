"""Worked example (docs/architecture.md, "adding a source kind"): a new kind of stream source in a few lines.

`testpattern://WIDTHxHEIGHT?rate=FPS` is FFmpeg's generated test picture (the lavfi `testsrc2` source): no
file and no server. The kind is registered through the public registry, a camera entry accepts its scheme,
and a real `StreamReader` reads frames from it; before registration the scheme is a clear error naming the
camera.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from sentinel.ingest.backoff import Backoff
from sentinel.ingest.reader import CameraState, Frame, ReaderStatus, StreamReader
from sentinel.ingest.settings import StreamSettings
from sentinel.ingest.sources import (
    AvSource,
    Playback,
    RtspSource,
    StreamOptions,
    UnknownSourceScheme,
    register_source,
    source_for,
    unregister_source,
)


class PatternSource(AvSource):
    """The whole plug-in: a name, its scheme, and how PyAV opens it."""

    kind = "testpattern"
    schemes: ClassVar[tuple[str, ...]] = ("testpattern",)

    def target(self, url: str) -> str:
        parts = urlsplit(url)
        rate = parse_qs(parts.query).get("rate", ["10"])[0]
        return f"testsrc2=size={parts.netloc}:rate={rate}"  # a lavfi filter graph, not a URL

    def open_format(self) -> str | None:
        return "lavfi"

    def open_timeouts(self, settings: StreamOptions) -> tuple[float, float] | None:
        return None  # generated locally: nothing to wait for

    def playback(self, settings: StreamOptions) -> Playback:
        # endless like a camera (its end would be a failure), generated as fast as asked: pace it
        return Playback(live=True, paced=True)


@pytest.fixture
def pattern_kind() -> Iterator[None]:
    register_source(PatternSource)
    yield
    unregister_source(PatternSource.kind)


class Collector:
    def __init__(self, want: int) -> None:
        self.frames: list[Frame] = []
        self.statuses: list[ReaderStatus] = []
        self.want = want
        self.done = threading.Event()

    def frame(self, f: Frame) -> None:
        self.frames.append(f)
        if len(self.frames) >= self.want:
            self.done.set()

    def status(self, s: ReaderStatus) -> None:
        self.statuses.append(s)
        if s.state is CameraState.offline:
            self.done.set()


def read(settings: StreamSettings, want: int, timeout: float = 20.0) -> tuple[Collector, StreamReader]:
    col = Collector(want)
    reader = StreamReader(settings, col.frame, col.status, backoff=Backoff(0.05, 0.2))
    reader.start()
    col.done.wait(timeout)
    reader.stop()
    reader.join(10)
    assert not reader.is_alive()
    return col, reader


def test_unregistered_scheme_is_a_clear_error_naming_camera_and_scheme() -> None:
    with pytest.raises(
        UnknownSourceScheme, match=r"camera cam7: no source kind for the scheme testpattern://"
    ):
        source_for("testpattern://320x240", camera_id="cam7")
    with pytest.raises(ValidationError, match="unsupported URL scheme in 'testpattern'://"):
        StreamSettings(id="cam7", source="testpattern://320x240")


def test_reader_reports_an_unknown_scheme_as_an_offline_status() -> None:
    # settings built without validation, as a programmatic caller might: the reader still says what is wrong
    settings = StreamSettings.model_construct(id="cam8", source="nope://user:hunter2@host/x")
    col, _ = read(settings, want=1, timeout=10)
    offline = [s for s in col.statuses if s.state is CameraState.offline]
    assert offline and offline[0].error is not None
    assert "camera cam8" in offline[0].error and "nope://" in offline[0].error
    assert "hunter2" not in offline[0].error
    assert not col.frames


@pytest.mark.usefixtures("pattern_kind")
def test_a_registered_kind_is_read_by_the_real_reader() -> None:
    settings = StreamSettings(
        id="pattern", source="testpattern://320x240?rate=10", decode="all", analyze_fps=5
    )
    source = source_for(settings.source, camera_id=settings.id)
    assert isinstance(source, PatternSource) and source.host() is None
    t0 = time.time()
    col, reader = read(settings, want=6)
    assert len(col.frames) >= 6, col.statuses
    assert col.frames[0].image.shape == (240, 320, 3)
    assert reader.status().state is CameraState.stopped and reader.status().error is None
    assert any(s.state is CameraState.online for s in col.statuses)
    # paced and live: stamped in wall-clock time, one frame each 1/analyze_fps
    assert all(t0 - 1 <= f.ts <= time.time() + 1 for f in col.frames)
    gaps = [b.ts - a.ts for a, b in zip(col.frames, col.frames[1:], strict=False)]
    # a frame picked late is followed by one picked on time: single gaps vary, the middle one does not
    assert all(0.05 < g < 0.5 for g in gaps) and 0.15 < sorted(gaps)[len(gaps) // 2] < 0.3, gaps


@pytest.mark.usefixtures("pattern_kind")
def test_registry_refuses_a_taken_scheme_and_forgets_an_unregistered_kind() -> None:
    class Impostor(RtspSource):
        kind = "impostor"
        schemes: ClassVar[tuple[str, ...]] = ("rtsp",)

    with pytest.raises(ValueError, match="scheme 'rtsp' is already registered"):
        register_source(Impostor)
    assert isinstance(source_for("rtsp://h/x"), RtspSource)
    unregister_source(PatternSource.kind)
    with pytest.raises(UnknownSourceScheme):
        source_for("testpattern://320x240")
    register_source(PatternSource)  # the fixture unregisters it again
