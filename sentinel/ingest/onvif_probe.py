"""Ask an ONVIF camera who it is and where its streams are (onvif-zeep), for `sentinel camera probe`.

Calls, in order: GetSystemDateAndTime (without credentials, as ONVIF Core allows; the device clock is
compared with ours, because WS-Security's PasswordDigest hashes a `Created` time the device checks against
its own clock), GetDeviceInformation, GetScopes, GetCapabilities (media XAddr), GetProfiles, GetStreamUri for
the main and the sub profile, GetSnapshotUri.  Every failure becomes a `ProbeError` whose message is one
line, safe to print (never the password), with a hint of what to do.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from sentinel.ingest.source import mask_secrets, mask_url
from sentinel.ingest.url_patterns import netloc, strip_credentials

MAX_SKEW_SECONDS = 5.0
_DEVICE_NS = "http://www.onvif.org/ver10/device/wsdl"
_MEDIA_NS = "http://www.onvif.org/ver10/media/wsdl"


class ProbeError(Exception):
    """A probe failure; `kind` tells which (timeout, refused, not_onvif, unauthorized, clock_skew, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


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


@dataclass
class ProbeResult:
    host: str
    port: int
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    serial: str = ""
    scope_name: str = ""
    scope_hardware: str = ""
    skew_seconds: float | None = None  # device clock minus ours
    skew_compensated: bool = False
    profiles: list[Profile] = field(default_factory=list)
    main: Profile | None = None
    sub: Profile | None = None
    main_uri: str = ""
    sub_uri: str = ""
    snapshot_uri: str | None = None
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- onvif-zeep plumbing


def _onvif_modules() -> tuple[Any, str]:
    """Import onvif-zeep without letting it configure the root logger; return (onvif.client, wsdl dir)."""
    root = logging.getLogger()
    guard = logging.NullHandler()
    root.addHandler(guard)  # onvif/client.py calls logging.basicConfig(level=INFO) at import time
    try:
        import onvif.client as onvif_client
    except ImportError:
        raise ProbeError("setup", "onvif-zeep is not installed (pip install onvif-zeep)") from None
    finally:
        root.removeHandler(guard)
    logging.getLogger("zeep").setLevel(logging.ERROR)
    # onvif-zeep installs its WSDLs next to its package (site-packages/wsdl); its own default does the same
    wsdl_dir = os.path.join(os.path.dirname(os.path.dirname(onvif_client.__file__)), "wsdl")
    if not os.path.isfile(os.path.join(wsdl_dir, "devicemgmt.wsdl")):
        raise ProbeError(
            "setup", f"onvif-zeep's WSDL files are missing from {wsdl_dir} (reinstall onvif-zeep)"
        )
    return onvif_client, wsdl_dir


def skew_text(skew: float) -> str:
    if abs(skew) < 0.5:
        return "the camera clock agrees with this machine's"
    direction = "ahead of" if skew > 0 else "behind"
    return f"the camera clock is {abs(skew):.0f} s {direction} this machine's"


class OnvifSession:
    """Device and media services of one camera, sharing one HTTP session and one WS-Security token."""

    def __init__(self, host: str, port: int, user: str, password: str, timeout: float) -> None:
        import requests
        from requests.auth import HTTPDigestAuth
        from zeep import Client, Settings
        from zeep.transports import Transport

        self._client_mod, self._wsdl_dir = _onvif_modules()
        self.host, self.port, self.user, self._password = host, port, user, password
        self.base = f"http://{netloc(host, port, 80)}"
        session = requests.Session()
        session.trust_env = False  # cameras sit on a private network: no HTTP(S)_PROXY from the environment
        session.auth = HTTPDigestAuth(user, password)  # used only if a camera challenges with HTTP Digest
        this = self

        class RecordingTransport(Transport):
            def post(self, address: str, message: Any, headers: Any) -> Any:
                response = super().post(address, message, headers)
                this.last_response = response
                return response

        self.last_response: Any = None
        self._transport = RecordingTransport(session=session, timeout=timeout, operation_timeout=timeout)
        self._settings = Settings(strict=False, xml_huge_tree=True)
        self._client_cls = Client
        self.dt_diff: dt.timedelta | None = None
        self._services: dict[str, Any] = {}

    def service(self, kind: str, xaddr: str, authenticated: bool = True) -> Any:
        """A zeep service proxy for `kind` ('devicemgmt' or 'media') at `xaddr`."""
        key = f"{kind}|{xaddr}|{authenticated}|{self.dt_diff}"
        if key not in self._services:
            from onvif.definition import SERVICES

            spec = SERVICES[kind]
            client = self._client_cls(
                os.path.join(self._wsdl_dir, spec["wsdl"]), transport=self._transport, settings=self._settings
            )
            if authenticated:
                client.wsse = self._client_mod.UsernameDigestTokenDtDiff(
                    self.user, self._password, dt_diff=self.dt_diff, use_digest=True
                )
            self._services[key] = client.create_service(f"{{{spec['ns']}}}{spec['binding']}", xaddr)
        return self._services[key]

    def call(
        self, what: str, kind: str, xaddr: str, op: str, authenticated: bool = True, **params: Any
    ) -> Any:
        self.last_response = None
        try:
            return getattr(self.service(kind, xaddr, authenticated), op)(**params)
        except Exception as exc:
            raise self.classify(exc, what) from None

    # ------------------------------------------------------------ errors

    def classify(self, exc: BaseException, what: str) -> ProbeError:
        import requests
        from zeep.exceptions import Error as ZeepError
        from zeep.exceptions import Fault, TransportError

        where = f"{self.host}:{self.port}"
        response = self.last_response
        status = getattr(response, "status_code", None)
        if isinstance(exc, requests.Timeout):
            return ProbeError("timeout", f"{where}: no answer to {what} in time (timeout)")
        if isinstance(exc, requests.ConnectionError):
            text = str(exc)
            if "refused" in text.lower():
                return ProbeError(
                    "refused", f"{where}: connection refused (no ONVIF/HTTP service on this port)"
                )
            if "Name or service not known" in text or "getaddrinfo" in text:
                return ProbeError("refused", f"{where}: unknown host name")
            return ProbeError("refused", f"{where}: cannot connect ({_short(text)})")
        if status == 401 or (isinstance(exc, Fault) and _is_not_authorized(exc)):
            return ProbeError("unauthorized", f"{where}: {what}: not authorized")
        if response is not None and not _looks_like_soap(response):
            ctype = response.headers.get("Content-Type", "no content type").split(";")[0]
            return ProbeError(
                "not_onvif",
                f"{where}: HTTP answers ({status} {ctype}) but not with SOAP: not an ONVIF service "
                "(check the port; ONVIF is usually on 80, sometimes 8000, 8080 or 8899)",
            )
        if isinstance(exc, Fault):
            reason = _short(exc.message or "SOAP fault")
            return ProbeError("fault", f"{where}: {what} failed: {reason}")
        if isinstance(exc, TransportError):
            return ProbeError("not_onvif", f"{where}: {what}: HTTP {exc.status_code}: not an ONVIF answer")
        if isinstance(exc, ZeepError):
            return ProbeError("not_onvif", f"{where}: {what}: unexpected answer ({_short(str(exc))})")
        return ProbeError("other", f"{where}: {what} failed: {_short(str(exc)) or type(exc).__name__}")


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_not_authorized(fault: Any) -> bool:
    codes = [str(c) for c in (fault.subcodes or [])] + [str(fault.code or "")]
    text = f"{fault.message or ''} {' '.join(codes)}".lower()
    return "notauthorized" in text.replace(" ", "") or "not authorized" in text or "unauthorized" in text


def _looks_like_soap(response: Any) -> bool:
    head = response.content[:2048].decode("utf-8", "replace")
    return bool(re.search(r"<([\w.-]+:)?Envelope[\s>]", head))


# ---------------------------------------------------------------- the probe


def _text(obj: Any, *names: str) -> Any:
    for name in names:
        obj = getattr(obj, name, None) if obj is not None else None
    return obj


def _device_time(answer: Any) -> float | None:
    utc = _text(answer, "UTCDateTime")
    if utc is None:
        return None
    d, t = utc.Date, utc.Time
    moment = dt.datetime(d.Year, d.Month, d.Day, t.Hour, t.Minute, t.Second, tzinfo=dt.UTC)
    return moment.timestamp() + 0.5  # whole seconds, truncated: the middle of that second


def _profile(p: Any) -> Profile | None:
    vec = _text(p, "VideoEncoderConfiguration")
    if vec is None or _text(vec, "Resolution") is None:
        return None
    rate = _text(vec, "RateControl")
    fps = _text(rate, "FrameRateLimit")
    bitrate = _text(rate, "BitrateLimit")
    return Profile(
        token=str(p.token),
        name=str(_text(p, "Name") or ""),
        encoding=str(_text(vec, "Encoding") or "?"),
        width=int(vec.Resolution.Width),
        height=int(vec.Resolution.Height),
        fps=float(fps) if fps else None,
        bitrate_kbps=int(bitrate) if bitrate else None,
    )


def _same_host_xaddr(xaddr: str, host: str, port: int, notes: list[str]) -> str:
    """A service address on another host (camera behind NAT/port forwarding): use the address we reached."""
    parts = urlsplit(xaddr)
    if parts.hostname in (None, host):
        return xaddr
    fixed = urlunsplit((parts.scheme or "http", netloc(host, port, 80), parts.path, parts.query, ""))
    notes.append(f"the camera announces its media service at {parts.netloc}; using {fixed}")
    return fixed


def _same_host_uri(uri: str, host: str, notes: list[str]) -> str:
    parts = urlsplit(uri)
    if not parts.hostname or parts.hostname == host:
        return uri
    fixed = urlunsplit(parts._replace(netloc=netloc(host, parts.port or 554, 554)))
    notes.append(f"the camera names its stream host {parts.hostname}; using {host} (the address probed)")
    return fixed


def probe(
    host: str, port: int, user: str, password: str, *, timeout: float = 5.0, fix_clock: bool = True
) -> ProbeResult:
    """Run the ONVIF calls; raise ProbeError (message safe to print) on the first one that fails."""
    try:
        return _probe(host, port, user, password, timeout, fix_clock)
    except ProbeError as exc:
        raise ProbeError(exc.kind, mask_secrets(str(exc), [password, quote(password, safe="")])) from None


def _probe(host: str, port: int, user: str, password: str, timeout: float, fix_clock: bool) -> ProbeResult:
    s = OnvifSession(host, port, user, password, timeout)
    device = f"{s.base}/onvif/device_service"
    result = ProbeResult(host=host, port=port)

    # 1. the device clock (pre-auth; some devices insist on a token even here)
    t_before = time.time()
    try:
        answer = s.call(
            "GetSystemDateAndTime", "devicemgmt", device, "GetSystemDateAndTime", authenticated=False
        )
    except ProbeError as exc:
        if exc.kind not in ("unauthorized", "fault"):
            raise
        answer = _auth_call(s, result, "GetSystemDateAndTime", device, "devicemgmt", "GetSystemDateAndTime")
    device_time = _device_time(answer)
    if device_time is not None:
        result.skew_seconds = round(device_time - (t_before + time.time()) / 2, 1)
    if result.skew_seconds is not None and abs(result.skew_seconds) > MAX_SKEW_SECONDS and fix_clock:
        s.dt_diff = dt.timedelta(seconds=result.skew_seconds)
        result.skew_compensated = True

    # 2. who it is (the first call that needs the password)
    info = _auth_call(s, result, "GetDeviceInformation", device, "devicemgmt", "GetDeviceInformation")
    result.manufacturer = str(_text(info, "Manufacturer") or "")
    result.model = str(_text(info, "Model") or "")
    result.firmware = str(_text(info, "FirmwareVersion") or "")
    result.serial = str(_text(info, "SerialNumber") or "")
    try:
        scopes = s.call("GetScopes", "devicemgmt", device, "GetScopes")
        for scope in scopes or []:
            item = str(_text(scope, "ScopeItem") or "")
            if "/name/" in item:
                result.scope_name = unquote(item.split("/name/", 1)[1]).strip()
            elif "/hardware/" in item:
                result.scope_hardware = unquote(item.split("/hardware/", 1)[1]).strip()
    except ProbeError:
        pass  # optional

    # 3. where the media service is
    media = _media_xaddr(s, device, result)

    # 4. profiles and their streams
    profiles = [p for p in map(_profile, s.call("GetProfiles", "media", media, "GetProfiles") or []) if p]
    if not profiles:
        raise ProbeError(
            "no_profile", f"{host}:{port}: the camera has no media profile with video (GetProfiles)"
        )
    result.profiles = profiles
    result.main = max(profiles, key=lambda p: p.pixels)
    others = [p for p in profiles if p.token != result.main.token]
    result.sub = min(reversed(others), key=lambda p: p.pixels) if others else result.main
    if not others:
        result.notes.append("only one video profile: the analysis uses the main stream")
    setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
    for label, prof in (("main", result.main), ("sub", result.sub)):
        uri = s.call(
            f"GetStreamUri ({label})",
            "media",
            media,
            "GetStreamUri",
            StreamSetup=setup,
            ProfileToken=prof.token,
        )
        text = str(_text(uri, "Uri") or "")
        if not text.startswith(("rtsp://", "rtsps://")):
            raise ProbeError(
                "no_stream", f"{host}:{port}: GetStreamUri ({label}) gave no RTSP URI: {mask_url(text)!r}"
            )
        setattr(result, f"{label}_uri", _same_host_uri(strip_credentials(text), host, result.notes))
    try:
        snap = s.call("GetSnapshotUri", "media", media, "GetSnapshotUri", ProfileToken=result.main.token)
        result.snapshot_uri = str(_text(snap, "Uri") or "") or None
    except ProbeError:
        result.notes.append("no snapshot URI (GetSnapshotUri not supported)")
    return result


def _auth_call(s: OnvifSession, result: ProbeResult, what: str, xaddr: str, kind: str, op: str) -> Any:
    try:
        return s.call(what, kind, xaddr, op)
    except ProbeError as exc:
        if exc.kind != "unauthorized":
            raise
        where = f"{s.host}:{s.port}"
        skew = result.skew_seconds
        if skew is not None and abs(skew) > MAX_SKEW_SECONDS and not result.skew_compensated:
            raise ProbeError(
                "clock_skew",
                f"{where}: authentication failed: {skew_text(skew)}, which breaks the WS-Security digest; "
                "set the camera's clock (NTP), or probe without --no-clock-fix to compensate",
            ) from None
        extra = (
            f" ({skew_text(skew)}; that can also break the digest)"
            if skew and abs(skew) > MAX_SKEW_SECONDS
            else ""
        )
        if skew is None:
            extra = " (if the camera's clock is far off, that breaks the digest too)"
        raise ProbeError(
            "unauthorized", f"{where}: wrong user name or password (NotAuthorized){extra}"
        ) from None


def _media_xaddr(s: OnvifSession, device: str, result: ProbeResult) -> str:
    try:
        caps = s.call("GetCapabilities", "devicemgmt", device, "GetCapabilities", Category="Media")
        xaddr = _text(caps, "Media", "XAddr")
    except ProbeError as exc:
        if exc.kind in ("timeout", "refused"):
            raise
        xaddr = None
    if not xaddr:
        services = s.call("GetServices", "devicemgmt", device, "GetServices", IncludeCapability=False)
        xaddr = next((sv.XAddr for sv in services or [] if sv.Namespace == _MEDIA_NS), None)
    if not xaddr:
        raise ProbeError("no_profile", f"{s.host}:{s.port}: the camera offers no ONVIF media service")
    return _same_host_xaddr(str(xaddr), s.host, s.port, result.notes)
