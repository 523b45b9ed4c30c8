"""Where an event happened: the ground point (through the camera's homography, else the camera's own
position) and the grid cell that answers for it, in the alert's terms."""

from __future__ import annotations

import logging
from statistics import median

from sentinel.alerts.builder import grid_of
from sentinel.alerts.schema import AlertGrid, AlertLocation
from sentinel.config.models import CameraConfig
from sentinel.detect.rules import SeenObject
from sentinel.geo.cells import GridCell, GridCells
from sentinel.geo.geolocate import Geolocator

log = logging.getLogger(__name__)


def alert_grid(cell: GridCell) -> AlertGrid:
    return AlertGrid(
        street=cell.street_code,
        community=cell.community_code,
        grid=cell.code,
        name=cell.name,
    )


def place_event(
    geolocator: Geolocator | None, cells: GridCells | None, camera: CameraConfig, objects: list[SeenObject]
) -> tuple[AlertLocation | None, AlertGrid | None, GridCell | None]:
    """The event's point is the median of its objects' ground contact points (bottom centres); an event
    without objects (camera health, a whole-frame change) is placed at the camera."""
    location = None
    if geolocator is not None:
        try:
            if objects:
                xy = (median((o.box[0] + o.box[2]) / 2 for o in objects), median(o.box[3] for o in objects))
                location = geolocator.locate_point(camera.id, xy)
        except KeyError:
            log.warning("camera %s is not known to the geolocator", camera.id)
    cell = location.cell if location is not None else None
    if cell is None and cells is not None and location is None and camera.location is not None:
        cell = cells.locate(camera.location.lon, camera.location.lat)
    if cell is None and cells is not None and camera.grid:
        cell = cells.get(camera.grid)
    if location is not None:
        alert_location = AlertLocation(
            lon=round(location.lon, 7), lat=round(location.lat, 7), method=location.method
        )
    elif camera.location is not None:
        alert_location = AlertLocation(lon=camera.location.lon, lat=camera.location.lat, method="camera")
    else:
        alert_location = None
    if cell is not None:
        return alert_location, alert_grid(cell), cell
    # no grid data loaded: the camera's declared code still names its street and community
    return alert_location, grid_of(camera.grid), None
