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
        return options


def network_host(configured: str) -> str | None:
    """The host of a URL, `${VAR}`s standing in for any value (no variable need be set)."""
    try:
        return urlsplit(ENV_REF.sub("x", configured)).hostname
    except ValueError:
        return None
