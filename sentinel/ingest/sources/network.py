"""Other network streams FFmpeg reads itself: RTMP, HTTP(S) (an HTTP-FLV or HLS relay), UDP/MPEG-TS, SRT.

No protocol options beyond the open and read timeouts; the stream's end is a failure, as for RTSP.
"""

from __future__ import annotations

from sentinel.ingest.sources.base import AvSource, register_source
from sentinel.ingest.sources.rtsp import network_host


@register_source
class NetworkSource(AvSource):
    kind = "network"
    schemes = ("rtmp", "http", "https", "udp", "srt")

    def host(self) -> str | None:
        return network_host(self.configured)
