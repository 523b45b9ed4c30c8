"""`sentinel camera probe HOST`: ask a camera over ONVIF for its streams and print a ready cameras.yaml entry."""

from __future__ import annotations

import argparse
import io
import sys
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML

from sentinel.cli.camera.common import fail, host_port, password_from_env, stream_error
from sentinel.cli.common import CliError
from sentinel.config.models import CameraConfig


def cmd_probe(args: argparse.Namespace) -> int:
    from sentinel.ingest.onvif import MAX_SKEW_SECONDS, ProbeError, probe, skew_text
    from sentinel.ingest.url_patterns import slug, with_credentials

    try:
        host, port = host_port(args.host, 80)
        password = password_from_env(args.password_env)
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
        print(entry_yaml(entry), end="")
        return 0
    except CliError as exc:
        return fail(exc)


def _check_stream(configured: str, password: str) -> tuple[Any, Any]:
    from sentinel.ingest.snapshot_grab import inspect_stream, suggest_decode
    from sentinel.ingest.sources import source_for

    camera = CameraConfig.model_validate({"id": "probe", "source": configured})
    source = source_for(configured, camera_id=camera.id)
    try:
        info = inspect_stream(source, camera, max_seconds=12.0)
    except Exception as exc:
        raise CliError(f"the sub stream does not play: {stream_error(exc, source, [password])}") from None
    return info, suggest_decode(info.gop_seconds)


def entry_yaml(entry: dict[str, Any]) -> str:
    """A one-camera `cameras:` list item as YAML, keys in the order given, URLs never folded."""
    yaml = YAML(typ="rt")  # keeps the key order
    yaml.width = 4096  # never fold a URL
    yaml.indent(mapping=2, sequence=4, offset=2)
    buf = io.StringIO()
    yaml.dump([entry], buf)
    return buf.getvalue()


def add_probe(cam_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
