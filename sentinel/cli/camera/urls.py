"""`sentinel camera urls HOST --make M`: the known RTSP paths of a camera make, optionally tried one by one."""

from __future__ import annotations

import argparse

from sentinel.cli.camera.common import fail, host_port, password_from_env, stream_error
from sentinel.cli.common import EXIT_RUNTIME, EXIT_USAGE, CliError
from sentinel.config.models import CameraConfig


def cmd_urls(args: argparse.Namespace) -> int:
    from sentinel.ingest.url_patterns import stream_urls

    try:
        host, port = host_port(args.host, 554)
        if args.try_open and args.user and not args.password_env:
            raise CliError("--try with --user needs --password-env VAR", EXIT_USAGE)
        password = password_from_env(args.password_env) if args.try_open else ""
        ref = f"${{{args.password_env}}}" if args.password_env else None
        try:
            urls = stream_urls(
                args.make, host, port=port, channel=args.channel, user=args.user, password_ref=ref
            )
        except ValueError as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
    except CliError as exc:
        return fail(exc)
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


def _try_open(configured: str, password: str, timeout: float) -> str:
    from sentinel.ingest.snapshot_grab import inspect_stream
    from sentinel.ingest.sources import source_for

    camera = CameraConfig.model_validate(
        {"id": "try", "source": configured, "open_timeout": timeout, "read_timeout": timeout}
    )
    source = source_for(configured, camera_id=camera.id)
    try:
        info = inspect_stream(source, camera, max_seconds=timeout, keyframes_wanted=2)
    except Exception as exc:
        return f"fails: {stream_error(exc, source, [password])}"
    return f"opens: {info.describe()}"


def add_urls(cam_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = cam_sub.add_parser("urls", help="known RTSP URLs of a camera make (when ONVIF is off)")
    p.add_argument("host", metavar="HOST[:PORT]", help="camera address; RTSP port 554 unless given")
    p.add_argument("--make", required=True, choices=["hikvision", "dahua", "uniview"])
    p.add_argument("--channel", type=int, default=1, help="channel (NVR input), from 1")
    p.add_argument("--user")
    p.add_argument("--password-env", metavar="VAR", help="environment variable with the password")
    p.add_argument("--try", dest="try_open", action="store_true", help="open each URL and report which plays")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per URL with --try (10)")
    p.set_defaults(func=cmd_urls)
