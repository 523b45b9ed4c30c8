"""Known RTSP paths of the common camera makes, for cameras whose ONVIF service is off.

Main stream for recording and review, sub stream (smaller) for analysis:

    hikvision  /Streaming/Channels/101 (main) /102 (sub); NVR channel n: n01 / n02
    dahua      /cam/realmonitor?channel=1&subtype=0 (main) / subtype=1 (sub)
    uniview    /unicast/c1/s0/live (main) / s1 (sub)

All three listen for RTSP on port 554 by default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

DEFAULT_RTSP_PORT = 554

_PATHS: dict[str, tuple[str, str]] = {
    "hikvision": ("/Streaming/Channels/{channel}01", "/Streaming/Channels/{channel}02"),
    "dahua": ("/cam/realmonitor?channel={channel}&subtype=0", "/cam/realmonitor?channel={channel}&subtype=1"),
    "uniview": ("/unicast/c{channel}/s0/live", "/unicast/c{channel}/s1/live"),
}
MAKES: tuple[str, ...] = tuple(_PATHS)


@dataclass(frozen=True)
class StreamUrls:
    make: str
    channel: int
    main: str
    sub: str


def split_host_port(text: str, default_port: int) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]` or `[v6]:port` → (host, port); raises ValueError with a readable reason."""
    text = text.strip()
    if not text or "/" in text or "@" in text:
        raise ValueError(f"expected HOST or HOST:PORT, got {text!r}")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise ValueError(f"unclosed '[' in {text!r}")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"expected HOST or HOST:PORT, got {text!r}")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""  # a bare IPv6 address has several colons
    if not host:
        raise ValueError(f"no host in {text!r}")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad port {port_text!r} in {text!r}")
    return host, int(port_text)


def netloc(host: str, port: int, default_port: int | None = None) -> str:
    host_part = f"[{host}]" if ":" in host else host
    return host_part if port == default_port else f"{host_part}:{port}"


def rtsp_url(
    host: str, port: int, path: str, user: str | None = None, password_ref: str | None = None
) -> str:
    """`rtsp://user:${VAR}@host:port/path`; the password stays a `${VAR}` reference (or what it is given)."""
    cred = ""
    if user:
        cred = quote(user, safe="")
        if password_ref:
            cred += f":{password_ref}"
        cred += "@"
    return f"rtsp://{cred}{netloc(host, port)}{path}"


def stream_urls(
    make: str,
    host: str,
    *,
    port: int = DEFAULT_RTSP_PORT,
    channel: int = 1,
    user: str | None = None,
    password_ref: str | None = None,
) -> StreamUrls:
    """Main and sub stream URLs for `make` (one of MAKES), channel 1.. (NVR inputs)."""
    key = make.lower()
    if key not in _PATHS:
        raise ValueError(f"unknown make {make!r} (known: {', '.join(MAKES)})")
    if channel < 1:
        raise ValueError(f"channel numbers start at 1, got {channel}")
    main, sub = (p.format(channel=channel) for p in _PATHS[key])
    return StreamUrls(
        make=key,
        channel=channel,
        main=rtsp_url(host, port, main, user, password_ref),
        sub=rtsp_url(host, port, sub, user, password_ref),
    )


def strip_credentials(uri: str) -> str:
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def with_credentials(uri: str, user: str, password: str) -> str:
    """`rtsp://host/x` → `rtsp://user:password@host/x`; a `${VAR}` password is kept as it is (not quoted)."""
    parts = urlsplit(strip_credentials(uri))
    secret = password if re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", password) else quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:{secret}@{parts.netloc}"))


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:64].strip("-")
