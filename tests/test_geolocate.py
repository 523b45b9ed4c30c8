"""Geolocation against a synthetic pinhole camera with exact ground truth.

Ground truth lives in a true local tangent plane (ENU) at the camera, turned into lon/lat through ECEF on the
WGS-84 ellipsoid — independent of the equirectangular frame the code uses — so the tests measure the whole
chain: control points → homography → ground point → lon/lat.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from sentinel.config.models import CameraConfig, ControlPoint
from sentinel.geo.cells import GridCells
from sentinel.geo.geolocate import (
    Geolocator,
    Homography,
    HomographyError,
    LocalFrame,
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_wgs84,
    ground_distance_m,
    wgs84_to_gcj02,
)
from sentinel.geo.grid_file import load_cells

REPO = Path(__file__).resolve().parents[1]
W, H = 1920, 1080
CAM_LON, CAM_LAT = 116.3975, 39.9087  # sample camera plaza-north, grid 110101001001001

# ---------------------------------------------------------------- exact geodesy for the ground truth

_A = 6378137.0
_F = 1 / 298.257223563
_E2 = _F * (2 - _F)


def _ecef(lon: float, lat: float, h: float = 0.0) -> np.ndarray:
    lam, phi = math.radians(lon), math.radians(lat)
    n = _A / math.sqrt(1 - _E2 * math.sin(phi) ** 2)
    return np.array(
        [
            (n + h) * math.cos(phi) * math.cos(lam),
            (n + h) * math.cos(phi) * math.sin(lam),
            (n * (1 - _E2) + h) * math.sin(phi),
        ]
    )


def _enu_axes(lon: float, lat: float) -> np.ndarray:
    lam, phi = math.radians(lon), math.radians(lat)
    return np.array(
        [
            [-math.sin(lam), math.cos(lam), 0.0],
            [-math.sin(phi) * math.cos(lam), -math.sin(phi) * math.sin(lam), math.cos(phi)],
            [math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi)],
        ]
    )


def enu_to_lonlat(e: float, n: float, lon0: float = CAM_LON, lat0: float = CAM_LAT) -> tuple[float, float]:
    x, y, z = _ecef(lon0, lat0) + _enu_axes(lon0, lat0).T @ np.array([e, n, 0.0])
    lam = math.atan2(y, x)
    p = math.hypot(x, y)
    phi = math.atan2(z, p * (1 - _E2))
    for _ in range(10):
        nn = _A / math.sqrt(1 - _E2 * math.sin(phi) ** 2)
        h = p / math.cos(phi) - nn
        phi = math.atan2(z, p * (1 - _E2 * nn / (nn + h)))
    return math.degrees(lam), math.degrees(phi)


def lonlat_to_enu(lon: float, lat: float, lon0: float = CAM_LON, lat0: float = CAM_LAT) -> np.ndarray:
    return (_enu_axes(lon0, lat0) @ (_ecef(lon, lat) - _ecef(lon0, lat0)))[:2]


def error_m(lonlat: tuple[float, float] | np.ndarray, truth_en: tuple[float, float]) -> float:
    got = lonlat_to_enu(float(lonlat[0]), float(lonlat[1]))
    return float(np.hypot(*(got - np.asarray(truth_en))))


# ---------------------------------------------------------------- the synthetic camera


class PinholeCamera:
    """At ENU (0, 0, height), looking along `yaw` (clockwise from north), tilted down by `pitch`."""

    def __init__(self, height: float = 10.0, yaw: float = 30.0, pitch: float = 25.0, f: float = 1400.0):
        t, a = math.radians(yaw), math.radians(pitch)
        self.c = np.array([0.0, 0.0, height])
        self.forward = np.array([math.sin(t) * math.cos(a), math.cos(t) * math.cos(a), -math.sin(a)])
        self.right = np.array([math.cos(t), -math.sin(t), 0.0])
        self.down = np.cross(self.forward, self.right)
        self.f = f

    def project(self, e: float, n: float) -> tuple[float, float]:
        """Ground point (metres) → normalised image point."""
        d = np.array([e, n, 0.0]) - self.c
        z = d @ self.forward
        assert z > 0, "behind the camera"
        return (self.f * (d @ self.right) / z + W / 2) / W, (self.f * (d @ self.down) / z + H / 2) / H

    def ground_of(self, x: float, y: float) -> tuple[float, float] | None:
        """Normalised image point → ground point (metres); None above the horizon."""
        u, v = x * W - W / 2, y * H - H / 2
        ray = self.forward + (u / self.f) * self.right + (v / self.f) * self.down
        if ray[2] >= 0:
            return None
        s = -self.c[2] / ray[2]
        p = self.c + s * ray
        return float(p[0]), float(p[1])


# where the technician clicked (normalised image points); their ground truth comes from the camera model
CLICKS = [
    (0.1, 0.45),
    (0.5, 0.4),
    (0.9, 0.5),
    (0.2, 0.7),
    (0.75, 0.75),
    (0.1, 0.95),
    (0.5, 0.98),
    (0.92, 0.9),
]
FOUR_CLICKS = [(0.1, 0.6), (0.9, 0.6), (0.9, 0.95), (0.1, 0.95)]


def ground_en(cam: PinholeCamera, clicks: list[tuple[float, float]] = CLICKS) -> list[tuple[float, float]]:
    out = []
    for xy in clicks:
        en = cam.ground_of(*xy)
        assert en is not None, f"{xy} is above the horizon"
        out.append(en)
    return out


def control_points(
    cam: PinholeCamera,
    clicks: list[tuple[float, float]] = CLICKS,
    lon0: float = CAM_LON,
    lat0: float = CAM_LAT,
) -> list[ControlPoint]:
    return [
        ControlPoint(image=xy, ground=enu_to_lonlat(*en, lon0=lon0, lat0=lat0))
        for xy, en in zip(clicks, ground_en(cam, clicks), strict=True)
    ]


@pytest.fixture(scope="module")
def cells() -> GridCells:
    return load_cells(REPO / "config" / "grid.geojson")


# ---------------------------------------------------------------- homography


def test_pixels_land_on_their_ground_points_within_1m() -> None:
    cam = PinholeCamera()
    hom = Homography.fit(control_points(cam), (W, H))
    assert hom.inliers.all()
    assert max(hom.reprojection_errors_m()) < 0.05
    worst = 0.0
    for x in np.linspace(0.05, 0.95, 7):
        for y in np.linspace(0.3, 1.0, 6):
            truth = cam.ground_of(x, y)
            assert truth is not None
            got = hom.image_to_ground([(x, y)])[0]
            worst = max(worst, error_m(got, truth))
    assert worst < 1.0
    assert worst < 0.1  # in fact centimetres: the only approximations are the flat local frames


def test_a_swapped_axis_would_fail_the_check() -> None:
    """Guard against a test that cannot fail: a wrong mapping (x↔y swapped) is metres off."""
    cam = PinholeCamera()
    hom = Homography.fit(control_points(cam), (W, H))
    truth = cam.ground_of(0.3, 0.8)
    assert truth is not None
    assert error_m(hom.image_to_ground([(0.8, 0.3)])[0], truth) > 5


def test_ransac_rejects_a_bad_control_point() -> None:
    cam = PinholeCamera()
    rng = np.random.default_rng(7)
    noisy = [(e + rng.normal(0, 0.1), n + rng.normal(0, 0.1)) for e, n in ground_en(cam)]
    pts = [ControlPoint(image=xy, ground=enu_to_lonlat(*en)) for xy, en in zip(CLICKS, noisy, strict=True)]
    bad = 3
    e, n = noisy[bad]
    pts[bad] = ControlPoint(image=CLICKS[bad], ground=enu_to_lonlat(e + 20, n - 15))  # a mis-click
    hom = Homography.fit(pts, (W, H))
    assert not hom.inliers[bad] and hom.inliers.sum() == len(pts) - 1
    errors = hom.reprojection_errors_m()
    assert errors[bad] > 20
    assert max(err for k, err in enumerate(errors) if k != bad) < 0.5
    truth = cam.ground_of(0.5, 0.9)
    assert truth is not None
    assert error_m(hom.image_to_ground([(0.5, 0.9)])[0], truth) < 1.0


def test_exactly_four_points_and_the_frame_corners() -> None:
    cam = PinholeCamera(pitch=12.0)  # the horizon is inside the image
    hom = Homography.fit(control_points(cam, FOUR_CLICKS), (W, H))
    assert max(hom.reprojection_errors_m()) < 1e-3
    corners = hom.frame_corners_on_ground()
    assert np.isnan(corners[0]).all() and np.isnan(corners[1]).all()  # top corners see the sky
    for got, xy in ((corners[2], (1.0, 1.0)), (corners[3], (0.0, 1.0))):
        truth = cam.ground_of(*xy)
        assert truth is not None
        assert error_m(got, truth) < 0.1
    assert cam.ground_of(0.5, 0.0) is None and np.isnan(hom.image_to_ground([(0.5, 0.0)])).all()


def test_too_few_or_collinear_points_are_refused() -> None:
    cam = PinholeCamera()
    with pytest.raises(HomographyError, match="at least 4 control points, got 3"):
        Homography.fit(control_points(cam)[:3])
    line = control_points(cam, [(0.5, 0.5), (0.5, 0.6), (0.5, 0.7), (0.5, 0.8), (0.5, 0.9)])
    with pytest.raises(HomographyError, match="one line"):
        Homography.fit(line)


def test_local_frame_round_trip_and_scale() -> None:
    frame = LocalFrame(CAM_LON, CAM_LAT)
    en = frame.to_local([enu_to_lonlat(300.0, -200.0)])[0]
    assert abs(en[0] - 300.0) < 0.05 and abs(en[1] + 200.0) < 0.05
    back = frame.to_lonlat(frame.to_local([(116.4, 39.91)]))[0]
    assert back == pytest.approx((116.4, 39.91), abs=1e-12)
    assert ground_distance_m((CAM_LON, CAM_LAT), enu_to_lonlat(30.0, 40.0)) == pytest.approx(50.0, abs=0.01)


# ---------------------------------------------------------------- geolocator


def camera(**kw: object) -> CameraConfig:
    base: dict[str, object] = {"id": "plaza-north", "source": "/tmp/none.mp4", "grid": "110101001001001"}
    return CameraConfig.model_validate(base | kw)


def test_detection_bottom_centre_lands_on_the_ground_point_and_its_grid(cells: GridCells) -> None:
    cam = PinholeCamera(pitch=10.0)  # a shallow view: it sees into the next grid, 80 m east
    pts = [p.model_dump() for p in control_points(cam)]
    geo = Geolocator([camera(homography=pts, location={"lon": CAM_LON, "lat": CAM_LAT})], cells)
    assert geo.warnings == []
    for feet, grid in (((5.0, 40.0), "110101001001001"), ((85.0, 70.0), "110101001001002")):
        x, y = cam.project(*feet)
        assert 0.05 < x < 0.95 and 0.2 < y < 1.0  # in view
        box = (x - 0.02, y - 0.15, x + 0.02, y)  # a standing person: the feet are the bottom centre
        loc = geo.locate_detection("plaza-north", box)
        assert loc is not None and loc.method == "homography"
        assert error_m((loc.lon, loc.lat), feet) < 1.0
        assert loc.cell is not None and loc.cell.code == grid and loc.cell_source == "point"


def test_falls_back_to_the_camera_position(cells: GridCells) -> None:
    cam = PinholeCamera(pitch=12.0)
    pts = [p.model_dump() for p in control_points(cam, FOUR_CLICKS)]
    geo = Geolocator([camera(homography=pts, location={"lon": CAM_LON, "lat": CAM_LAT})], cells)
    sky = geo.locate_detection("plaza-north", (0.4, 0.0, 0.5, 0.05))  # bottom above the horizon
    assert sky is not None and sky.method == "camera" and (sky.lon, sky.lat) == (CAM_LON, CAM_LAT)
    assert sky.cell is not None and sky.cell.code == "110101001001001" and sky.cell_source == "camera_grid"
    far = cam.project(0.0, 3000.0)  # just below the horizon: kilometres away, beyond max_range_m
    assert 0 < far[0] < 1 and 0 < far[1] < 1
    loc = geo.locate_point("plaza-north", far)
    assert loc is not None and loc.method == "camera"
    far_sighted = Geolocator(
        [camera(homography=pts, location={"lon": CAM_LON, "lat": CAM_LAT})], cells, max_range_m=1e4
    )
    loc = far_sighted.locate_point("plaza-north", far)
    assert loc is not None and loc.method == "homography"
    assert loc.cell is not None and loc.cell_source == "camera_grid"  # 3 km north: outside every grid
    assert error_m((loc.lon, loc.lat), (0.0, 3000.0)) < 30  # 1 % at 3 km, where a pixel spans metres
    only_position = Geolocator([camera(location={"lon": 116.3991, "lat": 39.9079}, grid=None)], cells)
    loc = only_position.locate_detection("plaza-north", (0.1, 0.1, 0.2, 0.9))
    assert loc is not None and loc.method == "camera"
    assert loc.cell is not None and loc.cell.code == "110101001001002" and loc.cell_source == "point"
    nothing = Geolocator([camera()], cells)
    assert nothing.locate_detection("plaza-north", (0.1, 0.1, 0.2, 0.9)) is None
    assert nothing.warnings == [
        "camera plaza-north: neither homography nor location: its detections cannot be placed"
    ]
    with pytest.raises(KeyError):
        nothing.locate_detection("no-such-camera", (0.1, 0.1, 0.2, 0.9))


def test_warnings_for_points_outside_every_grid(cells: GridCells) -> None:
    far_lon, far_lat = 116.4200, 39.9300  # well outside the sample street
    cam = PinholeCamera()
    pts = [p.model_dump() for p in control_points(cam, lon0=far_lon, lat0=far_lat)]
    geo = Geolocator([camera(homography=pts, location={"lon": far_lon, "lat": far_lat})], cells)
    assert geo.warnings == [
        f"camera plaza-north: its location (lon {far_lon}, lat {far_lat}) is outside every grid cell",
        "camera plaza-north: 8 of 8 control points are outside every grid cell (homography[0, 1, 2, 3, 4, 5, 6, 7])",
    ]
    x, y = cam.project(5.0, 40.0)
    loc = geo.locate_point("plaza-north", (x, y))
    assert loc is not None and loc.method == "homography"
    assert loc.cell is not None and loc.cell.code == "110101001001001" and loc.cell_source == "camera_grid"
    bad = Geolocator(
        [camera(homography=pts[:3] + pts[:1] * 2, location={"lon": CAM_LON, "lat": CAM_LAT})], cells
    )
    assert any("homography not usable" in w and "falling back to its location" in w for w in bad.warnings)


# ---------------------------------------------------------------- GCJ-02 / BD-09

# Published test vectors of eviltransform (googollee/eviltransform, [lat, lng] there) and coordtransform.
VECTORS = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),  # coordtransform's README example
]


@pytest.mark.parametrize(("wgs", "gcj"), VECTORS)
def test_gcj02_matches_published_vectors(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    assert wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=1e-9)
    back = gcj02_to_wgs84(*gcj)
    assert ground_distance_m(back, wgs) < 0.01


def test_gcj02_offset_in_beijing_and_none_abroad() -> None:
    gcj = wgs84_to_gcj02(CAM_LON, CAM_LAT)
    assert 400 < ground_distance_m(gcj, (CAM_LON, CAM_LAT)) < 700  # the famous few hundred metres
    assert wgs84_to_gcj02(2.3522, 48.8566) == (2.3522, 48.8566)
    assert gcj02_to_wgs84(2.3522, 48.8566) == (2.3522, 48.8566)


def test_bd09_matches_the_published_vector() -> None:
    # coordtransform (wandergis)'s README example, the common "bd_encrypt" formula
    assert bd09_to_gcj02(116.404, 39.915) == pytest.approx((116.39762729119315, 39.90865673957631), abs=1e-12)
    wgs = bd09_to_wgs84(116.404, 39.915)
    assert ground_distance_m(wgs, gcj02_to_wgs84(116.39762729119315, 39.90865673957631)) < 0.01
    assert 1000 < ground_distance_m(wgs, (116.404, 39.915)) < 1500
