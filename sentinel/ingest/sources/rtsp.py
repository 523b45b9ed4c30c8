"""RTSP cameras and NVRs (`rtsp://`, `rtsps://`): TCP interleaved by default, `rtsp_transport: udp` on request."""

from __future__ import annotations

from urllib.parse import urlsplit

from sentinel.fields import ENV_REF
from sentinel.ingest.sources.base import AvSource, StreamOptions, register_source


@register_source
class RtspSource(AvSource):
    kind = "rtsp"
    schemes = ("rtsp", "rtsps")

    def host(self) -> str | None:
        return network_host(self.configured)

    def open_options(self, settings: StreamOptions) -> dict[str, str]:
        options = {"rtsp_transport": settings.rtsp_transport}
        if settings.rtsp_transport == "tcp":
            options["rtsp_flags"] = "prefer_tcp"  # fall back to UDP only if the server refuses TCP
        # the read timeout as FFmpeg's own socket timeout (µs): a stalled server fails the read with
        # ETIMEDOUT (av.error.TimeoutError: "no answer in time"), as PyAV's read timeout did with ExitError
        options["timeout"] = str(round(_read_timeout(settings) * 1e6))
        return options

    def open_timeouts(self, settings: StreamOptions) -> tuple[float, float | None]:
        # no PyAV read timeout: its interrupt callback takes the GIL on every socket read FFmpeg makes
        # (three per RTP packet over TCP), a cost per camera that grows with the Python threads beside it
        return (settings.open_timeout, None)


def _read_timeout(settings: StreamOptions) -> float:
    return min(settings.read_timeout, settings.stall_timeout)  # as AvSource.open_timeouts


def network_host(configured: str) -> str | None:
    """The host of a URL, `${VAR}`s standing in for any value (no variable need be set)."""
    try:
        return urlsplit(ENV_REF.sub("x", configured)).hostname
    except ValueError:
        return None
