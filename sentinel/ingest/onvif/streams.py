"""Media profiles and their stream URIs: which profile is the main stream, which the sub (analysis) stream,
and where the camera says they are (fixed up when it names an address we cannot reach)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sentinel.ingest.onvif.errors import ProbeError
from sentinel.ingest.onvif.session import OnvifSession
from sentinel.ingest.source import SourceError, mask_url
from sentinel.ingest.sources import RtspSource, source_for
from sentinel.ingest.url_patterns import netloc, strip_credentials

_MEDIA_NS = "http://www.onvif.org/ver10/media/wsdl"


@dataclass(frozen=True)
class Profile:
    token: str
    name: str
    encoding: str
    width: int
    height: int
    fps: float | None
    bitrate_kbps: int | None

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def describe(self) -> str:
        fps = f" {self.fps:g} fps" if self.fps else ""
        rate = f" {self.bitrate_kbps} kbit/s" if self.bitrate_kbps else ""
        return f"{self.token} ({self.name}) {self.encoding} {self.width}x{self.height}{fps}{rate}"


def field_of(obj: Any, *names: str) -> Any:
    """`obj.a.b...`, None as soon as a step is missing (cameras leave out optional parts)."""
    for name in names:
        obj = getattr(obj, name, None) if obj is not None else None
    return obj


def to_profile(p: Any) -> Profile | None:
    """A GetProfiles entry as a Profile; None for a profile without video."""
    vec = field_of(p, "VideoEncoderConfiguration")
    if vec is None or field_of(vec, "Resolution") is None:
        return None
    rate = field_of(vec, "RateControl")
    fps = field_of(rate, "FrameRateLimit")
    bitrate = field_of(rate, "BitrateLimit")
    return Profile(
        token=str(p.token),
        name=str(field_of(p, "Name") or ""),
        encoding=str(field_of(vec, "Encoding") or "?"),
        width=int(vec.Resolution.Width),
        height=int(vec.Resolution.Height),
        fps=float(fps) if fps else None,
        bitrate_kbps=int(bitrate) if bitrate else None,
    )


def main_and_sub(profiles: list[Profile], notes: list[str]) -> tuple[Profile, Profile]:
    """The largest profile records (main); the smallest other one is analysed (sub)."""
    main = max(profiles, key=lambda p: p.pixels)
    others = [p for p in profiles if p.token != main.token]
    if not others:
        notes.append("only one video profile: the analysis uses the main stream")
        return main, main
    return main, min(reversed(others), key=lambda p: p.pixels)


def stream_uri(s: OnvifSession, media: str, label: str, profile: Profile, notes: list[str]) -> str:
    """GetStreamUri for one profile: an RTSP URL without credentials, on the host we probed."""
    setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
    answer = s.call(
        f"GetStreamUri ({label})",
        "media",
        media,
        "GetStreamUri",
        StreamSetup=setup,
        ProfileToken=profile.token,
    )
    text = str(field_of(answer, "Uri") or "")
    if not _is_rtsp(text):
        raise ProbeError(
            "no_stream", f"{s.where}: GetStreamUri ({label}) gave no RTSP URI: {mask_url(text)!r}"
        )
    return same_host_uri(strip_credentials(text), s.host, notes)


def _is_rtsp(uri: str) -> bool:
    try:
        return isinstance(source_for(uri), RtspSource) and "://" in uri
    except SourceError:
        return False


def media_xaddr(s: OnvifSession, device: str, notes: list[str]) -> str:
    """The media service address: from GetCapabilities, else GetServices."""
    try:
        caps = s.call("GetCapabilities", "devicemgmt", device, "GetCapabilities", Category="Media")
        xaddr = field_of(caps, "Media", "XAddr")
    except ProbeError as exc:
        if exc.kind in ("timeout", "refused"):
            raise
        xaddr = None
    if not xaddr:
        services = s.call("GetServices", "devicemgmt", device, "GetServices", IncludeCapability=False)
        xaddr = next((sv.XAddr for sv in services or [] if sv.Namespace == _MEDIA_NS), None)
    if not xaddr:
        raise ProbeError("no_profile", f"{s.where}: the camera offers no ONVIF media service")
    return same_host_xaddr(str(xaddr), s.host, s.port, notes)


def same_host_xaddr(xaddr: str, host: str, port: int, notes: list[str]) -> str:
    """A service address on another host (camera behind NAT/port forwarding): use the address we reached."""
    parts = urlsplit(xaddr)
    if parts.hostname in (None, host):
        return xaddr
    fixed = urlunsplit((parts.scheme or "http", netloc(host, port, 80), parts.path, parts.query, ""))
    notes.append(f"the camera announces its media service at {parts.netloc}; using {fixed}")
    return fixed


def same_host_uri(uri: str, host: str, notes: list[str]) -> str:
    parts = urlsplit(uri)
    if not parts.hostname or parts.hostname == host:
        return uri
    fixed = urlunsplit(parts._replace(netloc=netloc(host, parts.port or 554, 554)))
    notes.append(f"the camera names its stream host {parts.hostname}; using {host} (the address probed)")
    return fixed
