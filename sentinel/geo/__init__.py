"""Geography: grid cells and their file, the GridCode value, homography geolocation, placement of an event."""

from sentinel.fields.grid_code import GridCode

__all__ = ["GridCode"]
