"""Where an alert is placed: through the homography into the right grid cell, else at the camera."""

from __future__ import annotations

from pathlib import Path

from sentinel.config.models import CameraConfig
from sentinel.detect.rules import SeenObject
from sentinel.geo.geolocate import Geolocator, ground_distance_m
from sentinel.geo.grid_file import load_cells
from sentinel.geo.placement import place_event

CELLS = load_cells(Path(__file__).resolve().parents[1] / "config" / "grid.geojson")

# a camera looking at the plaza: the image's four corners seen on the ground (a 200 m x 150 m patch,
# the bottom of the frame near the camera), spanning grid 110101001001001 (west) and ...002 (east)
CAMERA = CameraConfig.model_validate(
    {
        "id": "cam",
        "source": "/x.mp4",
        "location": {"lon": 116.3980, "lat": 39.9060},
        "grid": "110101001001001",
        "homography": [
            {"image": [0.0, 1.0], "ground": [116.3972, 39.9080]},
            {"image": [1.0, 1.0], "ground": [116.3996, 39.9080]},
            {"image": [1.0, 0.0], "ground": [116.3996, 39.9094]},
            {"image": [0.0, 0.0], "ground": [116.3972, 39.9094]},
        ],
    }
)


def person(x: float, y: float) -> SeenObject:
    return SeenObject("person", 0.9, (x - 0.02, y - 0.1, x + 0.02, y))


def test_objects_placed_through_homography_in_their_cell() -> None:
    geo = Geolocator([CAMERA], CELLS)
    west, grid_w, cell_w = place_event(geo, CELLS, CAMERA, [person(0.1, 0.9)])
    assert west is not None and west.method == "homography"
    assert grid_w is not None and grid_w.grid == "110101001001001" and grid_w.name == "天街社区第一网格"
    assert grid_w.community == "110101001001" and grid_w.street == "110101001"
    east, grid_e, _ = place_event(
        geo, CELLS, CAMERA, [person(0.9, 0.9), person(0.92, 0.88), person(0.94, 0.9)]
    )
    assert grid_e is not None and grid_e.grid == "110101001001002"  # the crowd is across the border
    assert east is not None and ground_distance_m((west.lon, west.lat), (east.lon, east.lat)) > 100
    assert cell_w is not None and cell_w.code == "110101001001001"


def test_event_without_objects_is_placed_at_the_camera() -> None:
    geo = Geolocator([CAMERA], CELLS)
    loc, grid, _ = place_event(geo, CELLS, CAMERA, [])
    assert loc is not None and loc.method == "camera" and (loc.lon, loc.lat) == (116.3980, 39.9060)
    assert grid is not None and grid.grid == "110101001001004"  # where the camera pole actually stands


def test_without_grid_data_the_declared_code_is_used() -> None:
    plain = CAMERA.model_copy(update={"homography": []})
    loc, grid, cell = place_event(Geolocator([plain], None), None, plain, [person(0.5, 0.9)])
    assert loc is not None and loc.method == "camera"
    assert grid is not None and grid.grid == "110101001001001" and grid.name is None and cell is None
