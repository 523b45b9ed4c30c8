"""Stream sources as plug-ins: one module per kind, chosen by URL scheme through one registry (see base)."""

from sentinel.ingest.sources.base import (
    AvSource,
    OpenSpec,
    Playback,
    Source,
    StreamOptions,
    UnknownSourceScheme,
    known_schemes,
    open_source,
    open_spec,
    register_source,
    scheme_of,
    source_for,
    unregister_source,
)
from sentinel.ingest.sources.file import FileSource
from sentinel.ingest.sources.network import NetworkSource
from sentinel.ingest.sources.rtsp import RtspSource

__all__ = [
    "AvSource",
    "FileSource",
    "NetworkSource",
    "OpenSpec",
    "Playback",
    "RtspSource",
    "Source",
    "StreamOptions",
    "UnknownSourceScheme",
    "known_schemes",
    "open_source",
    "open_spec",
    "register_source",
    "scheme_of",
    "source_for",
    "unregister_source",
]
