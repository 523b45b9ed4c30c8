"""Ask an ONVIF camera who it is and where its streams are (onvif-zeep), for `sentinel camera probe`.

Calls, in order: GetSystemDateAndTime (without credentials, as ONVIF Core allows; the device clock is
compared with ours, because WS-Security's PasswordDigest hashes a `Created` time the device checks against
its own clock), GetDeviceInformation, GetScopes, GetCapabilities (media XAddr), GetProfiles, GetStreamUri for
the main and the sub profile, GetSnapshotUri.  Every failure becomes a `ProbeError` whose message is one
line, safe to print (never the password), with a hint of what to do.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from sentinel.ingest.onvif.errors import ProbeError
from sentinel.ingest.onvif.session import OnvifSession
from sentinel.ingest.onvif.streams import Profile, field_of, main_and_sub, media_xaddr, stream_uri, to_profile
from sentinel.ingest.source import mask_secrets

MAX_SKEW_SECONDS = 5.0


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


def skew_text(skew: float) -> str:
    if abs(skew) < 0.5:
        return "the camera clock agrees with this machine's"
    direction = "ahead of" if skew > 0 else "behind"
    return f"the camera clock is {abs(skew):.0f} s {direction} this machine's"


def _device_time(answer: Any) -> float | None:
    utc = field_of(answer, "UTCDateTime")
    if utc is None:
        return None
    d, t = utc.Date, utc.Time
    moment = dt.datetime(d.Year, d.Month, d.Day, t.Hour, t.Minute, t.Second, tzinfo=dt.UTC)
    return moment.timestamp() + 0.5  # whole seconds, truncated: the middle of that second


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
    result.manufacturer = str(field_of(info, "Manufacturer") or "")
    result.model = str(field_of(info, "Model") or "")
    result.firmware = str(field_of(info, "FirmwareVersion") or "")
    result.serial = str(field_of(info, "SerialNumber") or "")
    try:
        scopes = s.call("GetScopes", "devicemgmt", device, "GetScopes")
        for scope in scopes or []:
            item = str(field_of(scope, "ScopeItem") or "")
            if "/name/" in item:
                result.scope_name = unquote(item.split("/name/", 1)[1]).strip()
            elif "/hardware/" in item:
                result.scope_hardware = unquote(item.split("/hardware/", 1)[1]).strip()
    except ProbeError:
        pass  # optional

    # 3. where the media service is
    media = media_xaddr(s, device, result.notes)

    # 4. profiles and their streams
    profiles = [p for p in map(to_profile, s.call("GetProfiles", "media", media, "GetProfiles") or []) if p]
    if not profiles:
        raise ProbeError(
            "no_profile", f"{host}:{port}: the camera has no media profile with video (GetProfiles)"
        )
    result.profiles = profiles
    result.main, result.sub = main_and_sub(profiles, result.notes)
    result.main_uri = stream_uri(s, media, "main", result.main, result.notes)
    result.sub_uri = stream_uri(s, media, "sub", result.sub, result.notes)
    try:
        snap = s.call("GetSnapshotUri", "media", media, "GetSnapshotUri", ProfileToken=result.main.token)
        result.snapshot_uri = str(field_of(snap, "Uri") or "") or None
    except ProbeError:
        result.notes.append("no snapshot URI (GetSnapshotUri not supported)")
    return result


def _auth_call(s: OnvifSession, result: ProbeResult, what: str, xaddr: str, kind: str, op: str) -> Any:
    try:
        return s.call(what, kind, xaddr, op)
    except ProbeError as exc:
        if exc.kind != "unauthorized":
            raise
        skew = result.skew_seconds
        if skew is not None and abs(skew) > MAX_SKEW_SECONDS and not result.skew_compensated:
            raise ProbeError(
                "clock_skew",
                f"{s.where}: authentication failed: {skew_text(skew)}, which breaks the WS-Security digest; "
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
            "unauthorized", f"{s.where}: wrong user name or password (NotAuthorized){extra}"
        ) from None
