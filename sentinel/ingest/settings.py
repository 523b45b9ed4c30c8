"""The ingest part's settings: the stream half of a camera entry (where to read, how to decode, timeouts).

`config.CameraConfig` extends `StreamSettings` with what the parts above need (zones, rules, location, ...),
so the reader, snapshots and the probe take `StreamSettings` and accept a full camera entry as well.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from sentinel.fields import EnvString, PositiveSeconds, Seconds, Strict, check_env_refs
from sentinel.ingest.sources import known_schemes, scheme_of


class DecodeMode(StrEnum):
    keyframes = "keyframes"  # decode only I-frames (skip_frame=NONKEY)
    all = "all"  # decode every frame, then sample analyze_fps
    auto = "auto"  # keyframes when the GOP is short enough for analyze_fps, else all


class StreamSettings(Strict):
    # the field order is the order of a camera entry's keys in dumps and `sentinel check`: keep it
    id: str = Field(pattern=r"^[A-Za-z0-9_\-]+$", max_length=64)
    name: str = ""
    enabled: bool = True  # declared before source: a disabled camera may leave its ${VAR}s unset
    source: EnvString = Field(description="rtsp://user:${PASSWORD}@host/path, file:///path or a plain path")
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    decode: DecodeMode = DecodeMode.auto
    analyze_fps: float = Field(default=1.0, gt=0, le=30)
    # adaptive rate (sentinel.pipeline.analysis_rate): unset = analyze_fps, i.e. the rate never slows
    min_analyze_fps: float | None = Field(
        default=None, gt=0, le=30, description="floor of the analysis rate while the picture is still"
    )
    slow_after: PositiveSeconds = Field(
        default=30.0, description="still this long: the analysis rate halves, again each such period"
    )
    realtime: bool = Field(
        default=True, description="file sources: pace at native rate (False: as fast as possible)"
    )
    loop: bool = Field(default=True, description="file sources: start again at the end")
    open_timeout: PositiveSeconds = 10.0
    read_timeout: PositiveSeconds = 10.0
    stall_timeout: PositiveSeconds = Field(default=10.0, description="no frame for this long: reopen")
    offline_alert_after: Seconds = 300.0

    @field_validator("min_analyze_fps")
    @classmethod
    def _floor(cls, v: float | None, info: ValidationInfo) -> float | None:
        full = info.data.get("analyze_fps")
        if v is not None and full is not None and v > full:
            raise ValueError(f"min_analyze_fps ({v:g}) must not exceed analyze_fps ({full:g})")
        return v

    @property
    def analysis_floor(self) -> float:
        """The lowest rate the camera is analysed at (analyze_fps unless min_analyze_fps is set)."""
        return self.min_analyze_fps if self.min_analyze_fps is not None else self.analyze_fps

    @field_validator("source")
    @classmethod
    def _source(cls, v: str, info: ValidationInfo) -> str:
        if info.data.get("enabled", True):
            check_env_refs(v)
        if "://" in v and scheme_of(v) not in known_schemes():  # the registered source kinds decide
            raise ValueError(
                f"unsupported URL scheme in {v.split('://')[0]!r}:// (use rtsp://, file:// or a path)"
            )
        return v
