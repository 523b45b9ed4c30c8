"""`sentinel camera snapshot ID|URL --out FILE`: one frame with a coordinate grid (and zones) for drawing zones.

A camera given by its ID has its privacy masks blacked out in the picture too, over the grid (the file leaves
the daemon like any snapshot; the masked blocks show where the masks lie). A URL has no masks: it is the
picture as the camera sends it, for drawing the masks themselves."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sentinel.cli.camera.common import fail, raw_cameras, stream_error
from sentinel.cli.common import DEFAULT_CONFIG, EXIT_USAGE, CliError
from sentinel.config.models import CameraConfig


def cmd_snapshot(args: argparse.Namespace) -> int:
    from sentinel.detect.annotate import draw_overlay
    from sentinel.detect.privacy import privacy_mask_of
    from sentinel.ingest.snapshot_grab import IMAGE_SUFFIXES, grab_frame, write_image
    from sentinel.ingest.source import SourceError
    from sentinel.ingest.sources import UnknownSourceScheme, source_for

    try:
        if args.out.suffix.lower() not in IMAGE_SUFFIXES:
            raise CliError(f"{args.out}: use a .png, .jpg or .jpeg file name", EXIT_USAGE)
        camera = _snapshot_camera(args)
        if args.zones and not camera.zones:
            what = "a URL has no zones" if camera.id == "snapshot" else f"camera {camera.id} has no zones"
            raise CliError(f"--zones: {what} (give the ID of a camera with zones)", EXIT_USAGE)
        try:
            source = source_for(camera.source, camera_id=camera.id)
            image = grab_frame(source, camera, max_seconds=camera.open_timeout + camera.read_timeout)
        except UnknownSourceScheme as exc:  # names the camera already
            raise CliError(str(exc), EXIT_USAGE) from None
        except SourceError as exc:  # an unset ${VAR}
            raise CliError(f"{camera.id}: {exc}", EXIT_USAGE) from None
        except Exception as exc:
            raise CliError(stream_error(exc, source, [])) from None
        zones = camera.zones if args.zones else []
        out = (
            image
            if args.no_grid and not zones
            else draw_overlay(image, zones, step=None if args.no_grid else 0.1)
        )
        privacy = privacy_mask_of(camera)
        out = privacy.masked_copy(out)
        try:
            write_image(args.out, out)
        except (OSError, ValueError) as exc:
            raise CliError(str(exc)) from None
    except CliError as exc:
        return fail(exc)
    h, w = image.shape[:2]
    extras = [] if args.no_grid else ["grid 0.1"]
    if zones:
        extras.append(f"zones {', '.join(z.name for z in zones)}")
    if privacy:
        extras.append(f"privacy masks {len(privacy.polygons)}")
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
        found = [c for c in raw_cameras(args.config) if str(c.get("id")) == target]
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


def add_snapshot(cam_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
