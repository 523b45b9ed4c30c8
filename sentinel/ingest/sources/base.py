"""What a stream source is, and the one registry that picks a source kind by its URL scheme.

A camera's `source:` text (`rtsp://user:${PW}@host/path`, `file:///clip.mp4`, a plain path, ...) names a
source kind by its scheme. The kind knows how to resolve the text (`${ENV}` credentials), show it safely in
logs (`rtsp://user:***@host/...`), open it with PyAV (its own options and timeouts), how its timeline plays
(a live stream's end is a failure; a file's end is a finish or a loop) and how to describe its errors in one
line. The reader, the snapshot grab, the ONVIF probe and `sentinel camera` all go through this, so a new kind
(a GB/T 28181 media server, an HTTP-FLV relay) is one module and one `register_source` call.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, TypeVar

import av
import av.container

from sentinel.ingest.errors import describe_error
from sentinel.ingest.source import SourceError, mask_secrets, mask_url, resolve

_SCHEME = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://")


class StreamOptions(Protocol):
    """The camera settings a source reads when it opens (the stream settings and CameraConfig have them)."""

    @property
    def rtsp_transport(self) -> str: ...
    @property
    def open_timeout(self) -> float: ...
    @property
    def read_timeout(self) -> float: ...
    @property
    def stall_timeout(self) -> float: ...
    @property
    def realtime(self) -> bool: ...
    @property
    def loop(self) -> bool: ...


@dataclass(frozen=True)
class OpenSpec:
    """What `av.open` is given for one source. Never log it: `target` may hold a resolved password."""

    target: str
    format: str | None = None  # an FFmpeg demuxer to force (e.g. "lavfi"); None: guess from the target
    options: dict[str, str] = field(default_factory=dict)
    timeout: tuple[float, float | None] | None = None  # (open, read) seconds; read None: the source's own


@dataclass(frozen=True)
class Playback:
    """How the reader treats a source's timeline."""

    live: bool  # a live stream: its end is a failure (reconnect); frames are stamped with wall-clock time
    paced: bool = False  # deliver frames at their media rate (a file played as if it were a camera)
    loop: bool = False  # at the end, seek back to the start (only for sources that are not live)


class Source(Protocol):
    """One camera's source, as configured. Built by `source_for`; cheap, one per open attempt."""

    kind: ClassVar[str]  # registry name, e.g. "rtsp" (the class also names its URL `schemes`, see register)
    configured: str  # the text as written; may contain `${VAR}` references

    def masked(self) -> str:
        """The source as it may appear in logs, statuses, the API and errors (no password)."""
        ...

    def secrets(self) -> list[str]:
        """Secret values resolved so far (passwords, raw and URL-decoded), to scrub from any text."""
        ...

    def host(self) -> str | None:
        """The network host the source talks to, or None (a file, a generated picture)."""
        ...

    def playback(self, settings: StreamOptions) -> Playback: ...

    def prepare(self, settings: StreamOptions) -> OpenSpec:
        """Resolve `${ENV}`s and check what can be checked before opening; raises SourceError (an unset
        variable: a bare reason, the caller adds who) or FileNotFoundError."""
        ...

    def describe_error(self, exc: BaseException) -> str:
        """One line an operator can act on, starting with `masked()`, never containing a secret."""
        ...


class AvSource:
    """The common part of PyAV-opened kinds: `${ENV}` resolution, masking and error text. Subclasses set
    `kind` and `schemes` and give `target`, `open_options`, `open_timeouts` and `playback`."""

    kind: ClassVar[str] = ""
    schemes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, configured: str) -> None:
        self.configured = configured
        self._secrets: list[str] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.masked()!r})"

    def masked(self) -> str:
        return mask_url(self.configured)

    def secrets(self) -> list[str]:
        return list(self._secrets)

    def host(self) -> str | None:
        return None

    def playback(self, settings: StreamOptions) -> Playback:
        return Playback(live=True)

    def target(self, url: str) -> str:
        """What to hand `av.open` for the resolved URL."""
        return url

    def check(self, url: str) -> None:
        """Raise before opening when the source plainly cannot work (a missing file)."""

    def open_format(self) -> str | None:
        return None

    def open_options(self, settings: StreamOptions) -> dict[str, str]:
        return {}

    def open_timeouts(self, settings: StreamOptions) -> tuple[float, float | None] | None:
        # reads wait at most until the stall watchdog would have fired anyway
        return (settings.open_timeout, min(settings.read_timeout, settings.stall_timeout))

    def prepare(self, settings: StreamOptions) -> OpenSpec:
        url, self._secrets = resolve(self.configured)
        self.check(url)
        return OpenSpec(
            self.target(url), self.open_format(), self.open_options(settings), self.open_timeouts(settings)
        )

    def describe_error(self, exc: BaseException) -> str:
        return mask_secrets(describe_error(exc, self.masked()), self._secrets)


def open_spec(spec: OpenSpec) -> av.container.InputContainer:
    """`av.open` for a prepared source (input only)."""
    return av.open(spec.target, "r", format=spec.format, options=spec.options, timeout=spec.timeout)


def open_source(source: Source, settings: StreamOptions) -> av.container.InputContainer:
    """Prepare and open in one step, for one-off access (snapshot, probe); the reader does it in two."""
    return open_spec(source.prepare(settings))


# ---------------------------------------------------------------- registry

SourceClass = TypeVar("SourceClass", bound=Callable[[str], Source])
_KINDS: dict[str, Callable[[str], Source]] = {}  # scheme -> kind
_NAMES: dict[str, tuple[str, ...]] = {}  # kind name -> its schemes


class UnknownSourceScheme(SourceError):
    """No registered source kind answers to the source's scheme."""


def register_source(kind: SourceClass) -> SourceClass:
    """Register a source kind: a class with a `kind` name, the URL `schemes` it answers to ("" for a plain
    path, no "://") and a constructor taking the configured text; usable as a class decorator. A name or
    scheme already taken is refused."""
    name: str = getattr(kind, "kind", "")
    schemes: tuple[str, ...] = tuple(s.lower() for s in getattr(kind, "schemes", ()))
    if not name or not schemes:
        raise ValueError(f"{kind!r}: a source kind needs a `kind` name and at least one scheme")
    if name in _NAMES:
        raise ValueError(f"source kind {name!r} is already registered")
    taken = [s for s in schemes if s in _KINDS]
    if taken:
        raise ValueError(f"source kind {name!r}: scheme {taken[0]!r} is already registered")
    for scheme in schemes:
        _KINDS[scheme] = kind
    _NAMES[name] = schemes
    return kind


def unregister_source(name: str) -> None:
    """Remove a registered kind (tests, plug-ins being unloaded)."""
    for scheme in _NAMES.pop(name, ()):
        _KINDS.pop(scheme, None)


def known_schemes() -> list[str]:
    """The URL schemes some kind answers to (without "" for plain paths), sorted."""
    return sorted(s for s in _KINDS if s)


def scheme_of(configured: str) -> str:
    """`rtsp://...` -> "rtsp"; a plain path -> "". Lower case."""
    m = _SCHEME.match(configured)
    return m.group("scheme").lower() if m else ""


def source_for(configured: str, camera_id: str | None = None) -> Source:
    """The source kind for `configured`, chosen by its scheme; an unknown scheme is an UnknownSourceScheme
    naming the camera (when given) and the scheme."""
    scheme = scheme_of(configured)
    kind = _KINDS.get(scheme)
    if kind is None:
        who = f"camera {camera_id}: " if camera_id else ""
        known = ", ".join(f"{s}://" for s in known_schemes())
        raise UnknownSourceScheme(
            f"{who}no source kind for the scheme {scheme}:// (known: {known}, or a path)"
        )
    return kind(configured)
