"""`sentinel camera calibrate ID`: check a camera's homography control points before trusting it for geolocation."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from sentinel.cli.common import plural
from sentinel.config.loader import ConfigError, load_config

MAX_ERROR_M = 2.0


def add_calibrate(cam_sub: argparse._SubParsersAction[argparse.ArgumentParser], default_config: Path) -> None:
    p = cam_sub.add_parser(
        "calibrate",
        help="check a camera's homography points (reprojection error in metres, frame corners on the ground)",
    )
    p.add_argument("camera", metavar="ID")
    p.add_argument("--config", type=Path, default=default_config)
    p.add_argument(
        "--max-error", type=float, default=MAX_ERROR_M, help=f"metres per point (default {MAX_ERROR_M})"
    )
    p.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from sentinel.geo.geolocate import Homography, HomographyError, ground_distance_m
    from sentinel.geo.grid_file import load_cells

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    camera = next((c for c in config.cameras if c.id == args.camera), None)
    if camera is None:
        print(f"sentinel camera calibrate: no camera {args.camera!r} in {args.config}", file=sys.stderr)
        return 2
    if len(camera.homography) < 4:
        points = plural(len(camera.homography), "control point")
        print(f"camera {camera.id}: {points}; a homography needs at least 4 "
              "(image [x, y] normalised ↔ ground [lon, lat])", file=sys.stderr)  # fmt: skip
        return 1
    try:
        h = Homography.fit(camera.homography)
    except HomographyError as exc:
        print(f"camera {camera.id}: {exc}", file=sys.stderr)
        return 1
    cells = load_cells(config.grid.cells) if config.grid.cells is not None else None
    errors = h.reprojection_errors_m()
    print(f"camera {camera.id}: {len(errors)} control points")
    print(f"{'#':>3}  {'image x,y':>13}  {'ground lon,lat':>24}  {'error m':>8}")
    for i, (point, err) in enumerate(zip(camera.homography, errors, strict=True)):
        flag = "" if err <= args.max_error else "  <-- check this point"
        print(f"{i:>3}  {point.image[0]:6.3f},{point.image[1]:6.3f}  {point.ground[0]:11.6f},{point.ground[1]:11.6f}"
              f"  {err:8.2f}{flag}")  # fmt: skip
    finite = [e for e in errors if math.isfinite(e)]
    rms = math.sqrt(sum(e * e for e in finite) / len(finite)) if finite else math.inf
    print(f"RMS error {rms:.2f} m, worst {max(errors):.2f} m")
    print("frame corners on the ground:")
    for name, (lon, lat) in zip(
        ("top-left", "top-right", "bottom-right", "bottom-left"), h.frame_corners_on_ground(), strict=True
    ):
        if not (math.isfinite(lon) and math.isfinite(lat)):
            print(f"  {name:>12}: above the horizon (the camera sees sky there)")
            continue
        where = ""
        if camera.location is not None:
            where = f", {ground_distance_m((camera.location.lon, camera.location.lat), (lon, lat)):.0f} m from the camera"
        cell = cells.locate(lon, lat) if cells is not None else None
        grid = (
            f", in {cell.code} {cell.name}" if cell is not None else (", outside every grid" if cells else "")
        )
        print(f"  {name:>12}: {lon:.6f}, {lat:.6f}{where}{grid}")
    bad = [i for i, e in enumerate(errors) if not e <= args.max_error]
    if bad:
        print(f"points {bad} are off by more than {args.max_error} m: re-measure them", file=sys.stderr)
        return 1
    return 0
