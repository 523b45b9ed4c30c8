"""Geolocation: where on the ground a detection stands, and which grid cell that is.

Coordinates
    Everything stored is WGS-84 [lon, lat] (CGCS2000 is the same at grid scale). Maths happens in a *local
    metric frame*: east/north metres around a reference point, using the ellipsoid's radii of curvature at the
    reference latitude (an equirectangular projection). Over a street (1–2 km) its distortion is a few
    centimetres; it is not meant for areas much larger than a district.

Homography
    A fixed camera looking at flat ground maps image points to ground points by a 3×3 homography. It is fitted
    from ≥ 4 control points (image point normalised 0..1 ↔ ground [lon, lat]) with `cv2.findHomography`
    (RANSAC when there are more than 4, so one bad pick does not spoil the rest), in the local metric frame,
    so RANSAC thresholds and reprojection errors are in metres. A detection's ground point is the bottom
    centre of its box (where the feet / wheels touch the ground).

Datums
    Points picked on AMap or Tencent maps are GCJ-02, on Baidu maps BD-09: both are shifted by hundreds of
    metres from WGS-84 in China. `gcj02_to_wgs84` / `bd09_to_wgs84` convert them (the widely published
    "eviltransform" formula; the inverse is iterated to < 1 mm). The grid file may declare
    `"datum": "gcj02"` (or `"bd09"`) at its top level and is converted on load; camera control points and
    locations in cameras.yaml must be WGS-84 — convert map picks with these helpers first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from sentinel.config.models import CameraConfig, ControlPoint

if TYPE_CHECKING:
    from sentinel.geo.cells import GridCell, GridCells

FloatArray = NDArray[np.float64]
Datum = Literal["wgs84", "gcj02", "bd09"]
DATUMS: tuple[Datum, ...] = ("wgs84", "gcj02", "bd09")

# WGS-84 ellipsoid
_A = 6378137.0
_E2 = 6.69437999014e-3


# ---------------------------------------------------------------- local metric frame


@dataclass(frozen=True)
class LocalFrame:
    """East/north metres around (lon0, lat0); equirectangular with the ellipsoid's local radii."""

    lon0: float
    lat0: float

    @classmethod
    def around(cls, lonlat: ArrayLike) -> LocalFrame:
        """A frame centred on the bounding box of some [lon, lat] points."""
        pts = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        return cls(float((lo[0] + hi[0]) / 2), float((lo[1] + hi[1]) / 2))

    def _scales(self) -> tuple[float, float]:
        phi = math.radians(self.lat0)
        w = math.sqrt(1.0 - _E2 * math.sin(phi) ** 2)
        meridian = _A * (1.0 - _E2) / w**3  # M: radius of curvature north-south
        normal = _A / w  # N: radius of curvature east-west
        return math.radians(1.0) * normal * math.cos(phi), math.radians(1.0) * meridian

    def to_local(self, lonlat: ArrayLike) -> FloatArray:
        """[N, 2] lon/lat degrees → [N, 2] east/north metres."""
        pts = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
        kx, ky = self._scales()
        return np.column_stack(((pts[:, 0] - self.lon0) * kx, (pts[:, 1] - self.lat0) * ky))

    def to_lonlat(self, en: ArrayLike) -> FloatArray:
        """[N, 2] east/north metres → [N, 2] lon/lat degrees."""
        pts = np.asarray(en, dtype=np.float64).reshape(-1, 2)
        kx, ky = self._scales()
        return np.column_stack((pts[:, 0] / kx + self.lon0, pts[:, 1] / ky + self.lat0))


def ground_distance_m(a: Sequence[float], b: Sequence[float]) -> float:
    """Distance in metres between two [lon, lat] points (street scale)."""
    frame = LocalFrame(float(a[0]), float(a[1]))
    d = frame.to_local([b])[0]
    return float(math.hypot(d[0], d[1]))


# ---------------------------------------------------------------- GCJ-02 / BD-09


def _out_of_china(lon: float, lat: float) -> bool:
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _gcj_delta(lon: float, lat: float) -> tuple[float, float]:
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    common = (20.0 * math.sin(6.0 * x * pi) + 20.0 * math.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x)) + common
    d_lat += (20.0 * math.sin(y * pi) + 40.0 * math.sin(y / 3.0 * pi)) * 2.0 / 3.0
    d_lat += (160.0 * math.sin(y / 12.0 * pi) + 320.0 * math.sin(y * pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x)) + common
    d_lon += (20.0 * math.sin(x * pi) + 40.0 * math.sin(x / 3.0 * pi)) * 2.0 / 3.0
    d_lon += (150.0 * math.sin(x / 12.0 * pi) + 300.0 * math.sin(x / 30.0 * pi)) * 2.0 / 3.0
    a, ee = 6378245.0, 0.00669342162296594323  # Krasovsky 1940, as the formula uses
    rad = math.radians(lat)
    magic = 1.0 - ee * math.sin(rad) ** 2
    d_lat = (d_lat * 180.0) / ((a * (1.0 - ee)) / (magic * math.sqrt(magic)) * pi)
    d_lon = (d_lon * 180.0) / (a / math.sqrt(magic) * math.cos(rad) * pi)
    return d_lon, d_lat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """WGS-84 → GCJ-02 (the offset Chinese web maps apply); unchanged outside China."""
    if _out_of_china(lon, lat):
        return lon, lat
    d_lon, d_lat = _gcj_delta(lon, lat)
    return lon + d_lon, lat + d_lat


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 (AMap, Tencent) → WGS-84, by fixed-point iteration of the forward formula (< 1 mm)."""
    if _out_of_china(lon, lat):
        return lon, lat
    w_lon, w_lat = lon, lat
    for _ in range(30):
        g_lon, g_lat = wgs84_to_gcj02(w_lon, w_lat)
        e_lon, e_lat = g_lon - lon, g_lat - lat
        w_lon, w_lat = w_lon - e_lon, w_lat - e_lat
        if abs(e_lon) < 1e-10 and abs(e_lat) < 1e-10:
            break
    return w_lon, w_lat


_X_PI = math.pi * 3000.0 / 180.0


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """BD-09 (Baidu maps) → GCJ-02."""
    x, y = lon - 0.0065, lat - 0.006
    z = math.hypot(x, y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.cos(theta), z * math.sin(theta)


def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """BD-09 (Baidu maps) → WGS-84."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon: float, lat: float, datum: Datum) -> tuple[float, float]:
    if datum == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if datum == "bd09":
        return bd09_to_wgs84(lon, lat)
    return lon, lat


# ---------------------------------------------------------------- homography


class HomographyError(ValueError):
    """The control points do not determine a usable image → ground mapping."""


def _hull_area(pts: FloatArray) -> float:
    if len(pts) < 3:
        return 0.0
    hull = cv2.convexHull(pts.astype(np.float32))
    return float(cv2.contourArea(hull))


@dataclass(frozen=True)
class Homography:
    """Normalised image (x, y) → ground, fitted from control points; see the module docstring."""

    matrix: FloatArray  # 3×3: normalised image → local east/north metres of `frame`
    frame: LocalFrame
    image_points: FloatArray  # [N, 2] normalised
    ground_points: FloatArray  # [N, 2] lon/lat
    inliers: NDArray[np.bool_]  # [N] RANSAC inliers (all True for exactly 4 points)
    image_size: tuple[int, int]
    _sign: float = field(default=1.0, repr=False)

    @classmethod
    def fit(
        cls,
        points: Sequence[ControlPoint],
        image_size: tuple[int, int] = (1920, 1080),
        *,
        ransac_threshold_m: float = 1.5,
    ) -> Homography:
        """Fit from ≥ 4 control points; RANSAC (threshold in metres on the ground) when there are more.

        `image_size` turns the normalised points into pixels so the fit is conditioned on the real aspect
        ratio; the resulting mapping is still applied to normalised coordinates.
        """
        if len(points) < 4:
            raise HomographyError(f"a homography needs at least 4 control points, got {len(points)}")
        w, h = image_size
        img = np.array([p.image for p in points], dtype=np.float64)
        ground = np.array([p.ground for p in points], dtype=np.float64)
        frame = LocalFrame.around(ground)
        local = frame.to_local(ground)
        px = img * np.array([w, h], dtype=np.float64)
        if _hull_area(px) < 1e-6 * w * h:
            raise HomographyError("the image points are (nearly) on one line; spread them over the ground")
        if _hull_area(local) < 1.0:
            raise HomographyError("the ground points are (nearly) on one line or the same point")
        method = cv2.RANSAC if len(points) > 4 else 0
        h_px, mask = cv2.findHomography(px, local, method, ransac_threshold_m)
        if h_px is None:
            raise HomographyError("no homography fits these control points (check their order)")
        matrix = np.asarray(h_px @ np.diag([float(w), float(h), 1.0]), dtype=np.float64)
        s = np.linalg.svd(matrix / np.abs(matrix).max(), compute_uv=False)
        if s[-1] < 1e-10:
            raise HomographyError("the control points are degenerate (three or more on one line?)")
        inliers = mask.ravel().astype(bool) if mask is not None else np.ones(len(points), dtype=bool)
        if inliers.sum() < 4:
            raise HomographyError(
                f"only {int(inliers.sum())} control points agree with each other; check them"
            )
        w_in = (np.column_stack((img, np.ones(len(img)))) @ matrix.T)[:, 2][inliers]
        if not (np.all(w_in > 0) or np.all(w_in < 0)):
            raise HomographyError(
                "the fitted horizon passes between the control points: two points are probably swapped"
            )
        sign = 1.0 if w_in[0] > 0 else -1.0
        return cls(matrix, frame, img, ground, inliers, (int(w), int(h)), sign)

    def image_to_local(self, xy_norm: ArrayLike) -> FloatArray:
        """[N, 2] normalised image points → [N, 2] east/north metres; NaN at or above the horizon."""
        xy = np.asarray(xy_norm, dtype=np.float64).reshape(-1, 2)
        hom = np.column_stack((xy, np.ones(len(xy)))) @ self.matrix.T
        wcol = hom[:, 2] * self._sign
        out = np.full((len(xy), 2), np.nan)
        ok = wcol > 1e-12
        out[ok] = hom[ok, :2] / hom[ok, 2:3]
        return out

    def image_to_ground(self, xy_norm: ArrayLike) -> FloatArray:
        """[N, 2] normalised image points → [N, 2] WGS-84 lon/lat; NaN at or above the horizon."""
        return self.frame.to_lonlat(self.image_to_local(xy_norm))

    def reprojection_errors_m(self) -> list[float]:
        """Per control point: metres between its ground point and where the homography puts its image point."""
        got = self.image_to_local(self.image_points)
        want = self.frame.to_local(self.ground_points)
        return [float(d) if np.isfinite(d) else math.inf for d in np.hypot(*(got - want).T)]

    def frame_corners_on_ground(self) -> FloatArray:
        """Ground lon/lat of the image corners (top-left, top-right, bottom-right, bottom-left).

        A top corner above the horizon (a camera that sees the sky) is NaN.
        """
        return self.image_to_ground([(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)])


# ---------------------------------------------------------------- detections → ground → cell


@dataclass(frozen=True)
class Location:
    """Where a detection is: the point, how it was found, and its grid cell.

    `cell` is the grid cell containing the point; when the point is in no cell (or the method is "camera"),
    it is the camera's declared `grid:` cell. `cell_source` says which: "point", "camera_grid" or None.
    """

    lon: float
    lat: float
    method: Literal["homography", "camera"]
    cell: GridCell | None
    cell_source: Literal["point", "camera_grid"] | None = None


class Geolocator:
    """Per-camera homographies (or positions) and the grid cells; `warnings` lists what looks wrong."""

    def __init__(
        self,
        cameras: Iterable[CameraConfig],
        cells: GridCells | None = None,
        *,
        image_size: tuple[int, int] = (1920, 1080),
        max_range_m: float = 1000.0,
    ) -> None:
        self.cells = cells
        self.max_range_m = max_range_m
        self.cameras: dict[str, CameraConfig] = {}
        self.homographies: dict[str, Homography] = {}
        self.warnings: list[str] = []
        for camera in cameras:
            self.cameras[camera.id] = camera
            self._prepare(camera, image_size)

    def _warn(self, camera: CameraConfig, message: str) -> None:
        self.warnings.append(f"camera {camera.id}: {message}")

    def _prepare(self, camera: CameraConfig, image_size: tuple[int, int]) -> None:
        fallback = "its location" if camera.location else "nothing (no location either)"
        if camera.homography:
            try:
                self.homographies[camera.id] = Homography.fit(camera.homography, image_size)
            except HomographyError as exc:
                self._warn(camera, f"homography not usable ({exc}); falling back to {fallback}")
        elif camera.location is None:
            self._warn(camera, "neither homography nor location: its detections cannot be placed")
        cells = self.cells
        if cells is None:
            return
        if camera.grid is not None and camera.grid not in cells:
            self._warn(camera, f"its grid {camera.grid} is not in the grid data")
        if camera.location is not None:
            here = cells.locate(camera.location.lon, camera.location.lat)
            where = f"lon {camera.location.lon}, lat {camera.location.lat}"
            if here is None:
                self._warn(camera, f"its location ({where}) is outside every grid cell")
            elif camera.grid is not None and camera.grid in cells and here.code != camera.grid:
                self._warn(camera, f"its location lies in grid {here.code}, not in its grid {camera.grid}")
        outside = [
            i for i, p in enumerate(camera.homography) if cells.locate(p.ground[0], p.ground[1]) is None
        ]
        if outside:
            listed = ", ".join(str(i) for i in outside)
            self._warn(
                camera,
                f"{len(outside)} of {len(camera.homography)} control points are outside every grid cell "
                f"(homography[{listed}])",
            )

    def _declared_cell(self, camera: CameraConfig) -> GridCell | None:
        if self.cells is None or camera.grid is None:
            return None
        return self.cells.get(camera.grid)

    def locate_point(self, camera_id: str, xy_norm: Sequence[float]) -> Location | None:
        """Ground location of one normalised image point seen by `camera_id` (KeyError if unknown).

        Through the homography when the camera has one and the point maps to the ground within
        `max_range_m`; otherwise the camera's own location; None when it has neither.
        """
        camera = self.cameras[camera_id]
        homography = self.homographies.get(camera_id)
        if homography is not None:
            lon, lat = (float(v) for v in homography.image_to_ground([xy_norm])[0])
            if math.isfinite(lon) and math.isfinite(lat) and self._in_range(camera, homography, lon, lat):
                cell = self.cells.locate(lon, lat) if self.cells is not None else None
                if cell is not None:
                    return Location(lon, lat, "homography", cell, "point")
                declared = self._declared_cell(camera)
                return Location(lon, lat, "homography", declared, "camera_grid" if declared else None)
        if camera.location is None:
            return None
        lon, lat = camera.location.lon, camera.location.lat
        declared = self._declared_cell(camera)
        if declared is not None:
            return Location(lon, lat, "camera", declared, "camera_grid")
        cell = self.cells.locate(lon, lat) if self.cells is not None else None
        return Location(lon, lat, "camera", cell, "point" if cell else None)

    def locate_detection(self, camera_id: str, box_xyxy_norm: Sequence[float]) -> Location | None:
        """Ground location of a detection box [x1, y1, x2, y2] (normalised): its bottom centre."""
        x1, _y1, x2, y2 = (float(v) for v in box_xyxy_norm)
        return self.locate_point(camera_id, ((x1 + x2) / 2.0, y2))

    def _in_range(self, camera: CameraConfig, homography: Homography, lon: float, lat: float) -> bool:
        if camera.location is not None:
            origin = (camera.location.lon, camera.location.lat)
        else:
            origin = (homography.frame.lon0, homography.frame.lat0)
        return ground_distance_m(origin, (lon, lat)) <= self.max_range_m
