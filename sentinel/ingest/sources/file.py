"""Video files (`file:///clip.mp4` or a plain path): replay, demo and tests.

A file plays paced at its native rate (`realtime`) or as fast as it decodes, and loops at its end (`loop`);
without `loop` its end is a finish, not a failure.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from sentinel.ingest.sources.base import AvSource, Playback, StreamOptions, register_source


def file_path(url: str) -> Path:
    """The local path of a `file://` URL or a plain path."""
    return Path(unquote(url[len("file://") :])) if url.startswith("file://") else Path(url)


@register_source
class FileSource(AvSource):
    kind = "file"
    schemes = ("file", "")  # "": a plain path

    def playback(self, settings: StreamOptions) -> Playback:
        return Playback(live=False, paced=settings.realtime, loop=settings.loop)

    def target(self, url: str) -> str:
        return str(file_path(url))

    def check(self, url: str) -> None:
        if not file_path(url).is_file():
            raise FileNotFoundError(f"{self.masked()}: no such file")
