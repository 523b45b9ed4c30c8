"""Checks of the grid data against itself and the cameras, for `sentinel check` / `sentinel run` preflight.

`grid_issues(config, source)` reads `grid.cells` and `grid.roster` (paths relative to the config file) and
returns every problem as a ConfigIssue: the grid file's own checks (see `cells`), the roster's (see
`roster`), and per camera: its `grid:` code exists, its `location` lies in some grid cell, and its
`homography` control points are well-formed (≥ 4, image 0..1, ground [lon, lat]), fit, agree with each
other within `max_reprojection_error_m`, and lie near the camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sentinel.cases.roster import Roster, read_roster
from sentinel.config.loader import ConfigIssue, ConfigSource
from sentinel.config.models import CameraConfig, SentinelConfig
from sentinel.geo.cells import GridCells
from sentinel.geo.geolocate import Homography, HomographyError, ground_distance_m
from sentinel.geo.grid_file import read_cells

MAX_REPROJECTION_ERROR_M = 2.0
MAX_VIEW_DISTANCE_M = 1000.0


@dataclass
class GridData:
    cells: GridCells | None = None
    roster: Roster | None = None
    issues: list[ConfigIssue] = field(default_factory=list)


def grid_paths(config: SentinelConfig, source: ConfigSource) -> tuple[Path | None, Path | None]:
    """`grid.cells` and `grid.roster`, relative paths taken from the config file's folder."""

    def fix(p: Path | None) -> Path | None:
        return None if p is None else p if p.is_absolute() else source.path.parent / p

    return fix(config.grid.cells), fix(config.grid.roster)


def load_grid(config: SentinelConfig, source: ConfigSource) -> GridData:
    """Read the grid cells and the roster named in the config (each None when not configured)."""
    cells_path, roster_path = grid_paths(config, source)
    data = GridData()
    if cells_path is not None:
        if cells_path.is_file():
            data.cells, issues = read_cells(cells_path)
            data.issues.extend(issues)
        else:
            data.issues.append(source.issue(("grid", "cells"), f"file not found: {cells_path}"))
    if roster_path is not None:
        if roster_path.is_file():
            data.roster, issues = read_roster(roster_path, data.cells)
            data.issues.extend(issues)
        else:
            data.issues.append(source.issue(("grid", "roster"), f"file not found: {roster_path}"))
    return data


def grid_issues(
    config: SentinelConfig,
    source: ConfigSource,
    *,
    max_reprojection_error_m: float = MAX_REPROJECTION_ERROR_M,
) -> list[ConfigIssue]:
    data = load_grid(config, source)
    issues = list(data.issues)
    cells_name = config.grid.cells.name if config.grid.cells is not None else "the grid file"
    for index, camera in enumerate(config.cameras):
        issues.extend(_camera_issues(index, camera, data.cells, cells_name, source, max_reprojection_error_m))
    return issues


def _camera_issues(
    index: int,
    camera: CameraConfig,
    cells: GridCells | None,
    cells_name: str,
    source: ConfigSource,
    max_error_m: float,
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []

    def issue(*loc: int | str, message: str) -> None:
        issues.append(source.issue(("cameras", index, *loc), message))

    if cells is not None and camera.grid is not None and camera.grid not in cells:
        issue("grid", message=f"unknown grid {camera.grid}: not in {cells_name}")
    if cells is not None and camera.location is not None:
        lon, lat = camera.location.lon, camera.location.lat
        if cells.locate(lon, lat) is None:
            issue(
                "location",
                message=f"lon {lon}, lat {lat} is outside every grid cell of {cells_name} "
                "(WGS-84 expected: a point picked on AMap/Tencent (GCJ-02) or Baidu (BD-09) is off by "
                "hundreds of metres)",
            )

    points = camera.homography
    if not points:
        return issues
    well_formed = True
    for k, p in enumerate(points):
        if not all(0.0 <= v <= 1.0 for v in p.image):
            issue("homography", k, "image", message="image point outside the image (normalised 0..1)")
            well_formed = False
        lon, lat = p.ground
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            hint = "; looks like [lat, lon]" if -90 <= lon <= 90 and -180 <= lat <= 180 else ""
            issue("homography", k, "ground", message=f"ground is [lon, lat] in WGS-84 degrees{hint}")
            well_formed = False
    if len(points) < 4:
        issue(
            "homography",
            message=f"a homography needs at least 4 control points (better 6–10), got {len(points)}",
        )
        return issues
    if not well_formed:
        return issues
    try:
        homography = Homography.fit(points)
    except HomographyError as exc:
        issue("homography", message=str(exc))
        return issues
    for k, error in enumerate(homography.reprojection_errors_m()):
        if error > max_error_m:
            why = "an outlier the fit left out" if not homography.inliers[k] else "the points disagree"
            issue(
                "homography",
                k,
                message=f"control point {k} is {error:.1f} m from where the homography puts it "
                f"({why}; limit {max_error_m:g} m): re-pick it",
            )
    if camera.location is not None:
        here = (camera.location.lon, camera.location.lat)
        nearest = min(ground_distance_m(here, p.ground) for p in points)
        if nearest > MAX_VIEW_DISTANCE_M:
            issue(
                "location",
                message=f"the nearest control point is {nearest:.0f} m from the camera; "
                "are both in the same datum (WGS-84)?",
            )
    return issues
