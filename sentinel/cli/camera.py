"""`sentinel camera probe | discover | snapshot | urls`: the technician's tools for registering cameras.

Every failure is one line on stderr and exit status 1 (2 for a bad invocation or config); a password is
never printed: it is read from the environment variable named by `--password-env` and written into
`cameras.yaml` entries as a `${VAR}` reference.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from sentinel.config.models import ENV_REF, CameraConfig

EXIT_RUNTIME = 1
EXIT_USAGE = 2
DEFAULT_CONFIG = Path("config/sentinel.yaml")


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_RUNTIME) -> None:
        super().__init__(message)
        self.code = code


def _fail(exc: CliError) -> int:
    print(f"sentinel camera: {exc}", file=sys.stderr)
    return exc.code


def _password(var: str | None) -> str:
    if var is None:
        return ""
    if not ENV_REF.fullmatch(f"${{{var}}}"):
        raise CliError(f"--password-env wants a variable name (like CAM_PASSWORD), got {var!r}", EXIT_USAGE)
    if var not in os.environ:
        raise CliError(f"environment variable {var} is not set (export {var}=... first)", EXIT_USAGE)
    return os.environ[var]


def _stream_error(exc: BaseException, source: str, secrets: list[str]) -> str:
    from sentinel.ingest.errors import describe_error
    from sentinel.ingest.source import mask_secrets, mask_url

    return mask_secrets(describe_error(exc, mask_url(source)), secrets)


# ---------------------------------------------------------------- probe


def cmd_probe(args: argparse.Namespace) -> int:
    from sentinel.ingest.onvif_probe import MAX_SKEW_SECONDS, ProbeError, probe, skew_text
    from sentinel.ingest.url_patterns import slug, with_credentials

    try:
        host, port = _host_port(args.host, 80)
        password = _password(args.password_env)
        try:
            result = probe(
                host, port, args.user, password, timeout=args.timeout, fix_clock=not args.no_clock_fix
            )
        except ProbeError as exc:
            hint = ""
            if exc.kind in ("timeout", "refused", "not_onvif"):
                hint = (
                    f"; ONVIF may be off on this camera: try its known RTSP paths with `sentinel camera urls "
                    f"{host} --make hikvision|dahua|uniview --try --user {args.user} --password-env {args.password_env}`"
                )
            raise CliError(f"{exc}{hint}") from None
        ref = f"${{{args.password_env}}}"
        sub_source = with_credentials(result.sub_uri, args.user, ref)
        main_source = with_credentials(result.main_uri, args.user, ref)
        name = args.name or result.scope_name or " ".join(x for x in (result.manufacturer, result.model) if x)
        cam_id = args.id or slug(name) or slug(f"cam-{host}")
        lines = [
            f"ONVIF {host}:{port}: {result.manufacturer} {result.model}, firmware {result.firmware or '?'}, "
            f"serial {result.serial or '?'}"
        ]
        if result.skew_seconds is not None:
            lines.append(f"clock: {skew_text(result.skew_seconds)}")
        if result.skew_seconds is not None and abs(result.skew_seconds) > MAX_SKEW_SECONDS:
            action = "compensated for this probe" if result.skew_compensated else "the camera accepted it"
            warning = (
                f"{skew_text(result.skew_seconds)} ({action}): set the camera's clock (NTP); "
                "WS-Security logins fail once it drifts too far"
            )
            print(f"warning: {warning}", file=sys.stderr)
            lines.append(f"warning: {warning}")
        lines.append("profiles: " + "; ".join(p.describe() for p in result.profiles))
        lines.append(f"main stream: {main_source}")
        lines.append(f"sub stream:  {sub_source}  (for analysis)")
        lines.append(f"snapshot:    {result.snapshot_uri or 'none'}")
        lines += [f"note: {n}" for n in result.notes]
        entry: dict[str, Any] = {"id": cam_id, "name": name, "source": sub_source}
        if not args.no_stream:
            info, suggestion = _check_stream(sub_source, password)
            lines.append(f"sub stream plays: {info.describe()}")
            lines.append(
                f"suggested: decode {suggestion.decode} at {suggestion.analyze_fps:g} fps: {suggestion.reason}"
            )
            entry.update(decode=suggestion.decode, analyze_fps=suggestion.analyze_fps)
        else:
            lines.append("sub stream not opened (--no-stream): decode auto")
            entry.update(decode="auto", analyze_fps=1.0)
        try:
            CameraConfig.model_validate(entry)
        except ValidationError as exc:
            raise CliError(
                f"the entry would not validate: {exc.errors()[0]['msg']} (use --id/--name)"
            ) from None
        print("\n".join(f"# {line}" for line in lines))
        print(_entry_yaml(entry), end="")
        return 0
    except CliError as exc:
        return _fail(exc)


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    from sentinel.ingest.url_patterns import split_host_port

    try:
        return split_host_port(text, default_port)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def _check_stream(source: str, password: str) -> tuple[Any, Any]:
    from sentinel.ingest.snapshot_grab import inspect_stream, suggest_decode
    from sentinel.ingest.source import resolve

    url, secrets = resolve(source)
    camera = CameraConfig.model_validate({"id": "probe", "source": source})
    try:
        info = inspect_stream(url, camera, max_seconds=12.0)
    except Exception as exc:
        raise CliError(
            f"the sub stream does not play: {_stream_error(exc, source, secrets + [password])}"
        ) from None
    return info, suggest_decode(info.gop_seconds)


def _entry_yaml(entry: dict[str, Any]) -> str:
    yaml = YAML(typ="rt")  # keeps the key order
    yaml.width = 4096  # never fold a URL
    yaml.indent(mapping=2, sequence=4, offset=2)
    buf = io.StringIO()
    yaml.dump([entry], buf)
    return buf.getvalue()


# ---------------------------------------------------------------- discover


def cmd_discover(args: argparse.Namespace) -> int:
    from sentinel.ingest.ws_discovery import discover

    try:
        target = _host_port(args.target, 3702) if args.target else None
        registered = _registered_hosts(args.config or DEFAULT_CONFIG, explicit=args.config is not None)
        try:
            result = discover(timeout=args.timeout, interface=args.interface, target=target)
        except ValueError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        except OSError as exc:
            raise CliError(f"cannot send the WS-Discovery probe: {exc.strerror or exc}") from None
    except CliError as exc:
        return _fail(exc)
    where = (
        f"{target[0]}:{target[1]}"
        if target
        else "239.255.255.250:3702" + (f" via {args.interface}" if args.interface else "")
    )
    if not result.devices:
        print(f"no ONVIF device answered within {args.timeout:g} s (probe to {where})")
    else:
        rows = [("ADDRESS", "NAME", "HARDWARE", "XADDRS", "REGISTERED")]
        for d in result.devices:
            known = sorted({registered[h] for h in d.hosts if h in registered})
            rows.append(
                (
                    d.address,
                    d.name or "-",
                    d.hardware or "-",
                    " ".join(d.xaddrs) or "-",
                    ", ".join(known) or "-",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[4])
        n_known = sum(1 for r in rows[1:] if r[4] != "-")
        print(f"{len(result.devices)} device(s) answered (probe to {where}); {n_known} already registered")
    for reason in dict.fromkeys(result.ignored):
        print(f"ignored an answer from {reason}", file=sys.stderr)
    return 0


def _raw_cameras(config: Path) -> list[dict[str, Any]]:
    """Camera entries as written (no validation: other cameras' unset passwords must not get in the way)."""
    yaml = YAML(typ="safe", pure=True)

    def load(path: Path) -> Any:
        try:
            return yaml.load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CliError(f"{path}: file not found", EXIT_USAGE) from None
        except (OSError, YAMLError) as exc:
            raise CliError(f"{path}: cannot read: {exc}", EXIT_USAGE) from None

    tree = load(config) or {}
    if not isinstance(tree, dict):
        raise CliError(f"{config}: expected a mapping at the top level", EXIT_USAGE)
    if isinstance(tree.get("cameras_file"), str):
        tree = load(config.parent / tree["cameras_file"]) or {}
    cameras = tree.get("cameras") if isinstance(tree, dict) else None
    return [c for c in cameras or [] if isinstance(c, dict)]


def _source_host(source: Any) -> str | None:
    if isinstance(source, dict):  # a future `source: {onvif: {host: ...}}`
        inner = next(iter(source.values()), None)
        return str(inner.get("host")) if isinstance(inner, dict) and inner.get("host") else None
    if not isinstance(source, str) or "://" not in source:
        return None
    try:
        return urlsplit(ENV_REF.sub("x", source)).hostname
    except ValueError:
        return None


def _registered_hosts(config: Path, explicit: bool) -> dict[str, str]:
    if not explicit and not config.is_file():
        return {}
    hosts: dict[str, str] = {}
    for cam in _raw_cameras(config):
        host = _source_host(cam.get("source"))
        if host:
            hosts.setdefault(host, str(cam.get("id", "?")))
    return hosts


# ---------------------------------------------------------------- snapshot


def cmd_snapshot(args: argparse.Namespace) -> int:
    from sentinel.ingest.snapshot_grab import IMAGE_SUFFIXES, draw_overlay, grab_frame, write_image
    from sentinel.ingest.source import SourceError, resolve

    try:
        if args.out.suffix.lower() not in IMAGE_SUFFIXES:
            raise CliError(f"{args.out}: use a .png, .jpg or .jpeg file name", EXIT_USAGE)
        camera = _snapshot_camera(args)
        if args.zones and not camera.zones:
            what = "a URL has no zones" if camera.id == "snapshot" else f"camera {camera.id} has no zones"
            raise CliError(f"--zones: {what} (give the ID of a camera with zones)", EXIT_USAGE)
        try:
            url, secrets = resolve(camera.source)
        except SourceError as exc:
            raise CliError(f"{camera.id}: {exc}", EXIT_USAGE) from None
        try:
            image = grab_frame(url, camera, max_seconds=camera.open_timeout + camera.read_timeout)
        except Exception as exc:
            raise CliError(_stream_error(exc, camera.source, secrets)) from None
        zones = camera.zones if args.zones else []
        out = (
            image
            if args.no_grid and not zones
            else draw_overlay(image, zones, step=None if args.no_grid else 0.1)
        )
        try:
            write_image(args.out, out)
        except (OSError, ValueError) as exc:
            raise CliError(str(exc)) from None
    except CliError as exc:
        return _fail(exc)
    h, w = image.shape[:2]
    extras = [] if args.no_grid else ["grid 0.1"]
    if zones:
        extras.append(f"zones {', '.join(z.name for z in zones)}")
    print(f"wrote {args.out} ({w}x{h}{', ' if extras else ''}{', '.join(extras)})")
    return 0


def _snapshot_camera(args: argparse.Namespace) -> CameraConfig:
    target: str = args.camera
    is_source = "://" in target or target.startswith(("/", ".")) or Path(target).suffix != ""
    if is_source:
        entry: dict[str, Any] = {"id": "snapshot", "source": target}
        if args.transport:
            entry["rtsp_transport"] = args.transport
    else:
        found = [c for c in _raw_cameras(args.config) if str(c.get("id")) == target]
        if not found:
            raise CliError(f"no camera {target!r} in {args.config}", EXIT_USAGE)
        entry = {**found[0], "enabled": True}
        if args.transport:
            entry["rtsp_transport"] = args.transport
    try:
        return CameraConfig.model_validate(entry)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise CliError(f"camera {target!r}: {loc}: {err['msg']}", EXIT_USAGE) from None


# ---------------------------------------------------------------- urls


def cmd_urls(args: argparse.Namespace) -> int:
    from sentinel.ingest.url_patterns import stream_urls

    try:
        host, port = _host_port(args.host, 554)
        if args.try_open and args.user and not args.password_env:
            raise CliError("--try with --user needs --password-env VAR", EXIT_USAGE)
        password = _password(args.password_env) if args.try_open else ""
        ref = f"${{{args.password_env}}}" if args.password_env else None
        try:
            urls = stream_urls(
                args.make, host, port=port, channel=args.channel, user=args.user, password_ref=ref
            )
        except ValueError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
    except CliError as exc:
        return _fail(exc)
    print(f"{urls.make} channel {urls.channel}:")
    print(f"  main: {urls.main}")
    print(f"  sub:  {urls.sub}")
    if not args.try_open:
        return 0
    opened = 0
    for label, source in (("main", urls.main), ("sub", urls.sub)):
        result = _try_open(source, password, args.timeout)
        opened += result.startswith("opens")
        print(f"tried {label}:{' ' if label == 'sub' else ''} {result}")
    return 0 if opened else EXIT_RUNTIME


def _try_open(source: str, password: str, timeout: float) -> str:
    from sentinel.ingest.snapshot_grab import inspect_stream
    from sentinel.ingest.source import resolve

    url, secrets = resolve(source)
    camera = CameraConfig.model_validate(
        {"id": "try", "source": source, "open_timeout": timeout, "read_timeout": timeout}
    )
    try:
        info = inspect_stream(url, camera, max_seconds=timeout, keyframes_wanted=2)
    except Exception as exc:
        return f"fails: {_stream_error(exc, source, secrets + [password])}"
    return f"opens: {info.describe()}"


# ---------------------------------------------------------------- parser


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's subcommands to the `sentinel` parser."""
    camera = sub.add_parser("camera", help="probe, discover, snapshot and find stream URLs of cameras")
    cam_sub = camera.add_subparsers(dest="camera_command", required=True)

    p = cam_sub.add_parser(
        "probe", help="ask a camera over ONVIF for its streams; print a cameras.yaml entry"
    )
    p.add_argument("host", metavar="HOST[:PORT]", help="camera address; ONVIF port 80 unless given")
    p.add_argument("--user", required=True)
    p.add_argument(
        "--password-env", required=True, metavar="VAR", help="environment variable with the password"
    )
    p.add_argument("--name", help="camera name for the entry (default: the camera's own ONVIF name)")
    p.add_argument("--id", help="camera id for the entry (default: from the name)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each ONVIF answer (5)")
    p.add_argument("--no-clock-fix", action="store_true", help="do not compensate a camera clock that is off")
    p.add_argument("--no-stream", action="store_true", help="do not open the sub stream")
    p.set_defaults(func=cmd_probe)

    p = cam_sub.add_parser("discover", help="find ONVIF cameras with a WS-Discovery probe")
    p.add_argument("--interface", metavar="IF", help="network interface (name or its IPv4 address)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to collect answers (3)")
    p.add_argument(
        "--target", metavar="HOST[:PORT]", help="probe one address by unicast (port 3702 unless given)"
    )
    p.add_argument("--config", type=Path, help=f"mark cameras registered here (default {DEFAULT_CONFIG})")
    p.set_defaults(func=cmd_discover)

    p = cam_sub.add_parser(
        "snapshot", help="grab one frame with a coordinate grid (and zones) for drawing zones"
    )
    p.add_argument("camera", metavar="ID|URL", help="camera id from the config, or a stream URL / file")
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="PNG or JPEG to write")
    p.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})"
    )
    p.add_argument("--zones", action="store_true", help="draw the camera's zones")
    p.add_argument("--no-grid", action="store_true", help="no coordinate grid")
    p.add_argument("--transport", choices=["tcp", "udp"], help="RTSP transport (default: the camera's)")
    p.set_defaults(func=cmd_snapshot)

    p = cam_sub.add_parser("urls", help="known RTSP URLs of a camera make (when ONVIF is off)")
    p.add_argument("host", metavar="HOST[:PORT]", help="camera address; RTSP port 554 unless given")
    p.add_argument("--make", required=True, choices=["hikvision", "dahua", "uniview"])
    p.add_argument("--channel", type=int, default=1, help="channel (NVR input), from 1")
    p.add_argument("--user")
    p.add_argument("--password-env", metavar="VAR", help="environment variable with the password")
    p.add_argument("--try", dest="try_open", action="store_true", help="open each URL and report which plays")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per URL with --try (10)")
    p.set_defaults(func=cmd_urls)

    from sentinel.cli.calibrate import add_calibrate

    add_calibrate(cam_sub, DEFAULT_CONFIG)
