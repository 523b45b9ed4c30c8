"""The one annotator: boxes, zones and labels drawn on BGR pictures, for alert snapshots, replay's annotated
video and the technician's coordinate-grid picture (`sentinel camera snapshot --zones`, the console).

Coordinates are normalised 0..1 (x right, y down), as detections and zones are everywhere else; drawing
is in place, on the caller's canvas.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from sentinel.fields import NamedPolygon, Point

Colour = tuple[int, int, int]  # BGR
Box = tuple[float, float, float, float]  # normalised xyxy

ZONE_COLOUR: Colour = (0, 200, 255)  # amber
BOX_COLOUR: Colour = (40, 40, 230)  # red: what an alert counted
TRACK_COLOUR: Colour = (40, 220, 40)  # green: everything the tracker follows
GRID_COLOUR: Colour = (255, 255, 255)
GRID_MAJOR_COLOUR: Colour = (0, 255, 255)
ZONE_PALETTE: tuple[Colour, ...] = (
    (0, 200, 255), (255, 120, 0), (0, 220, 0), (255, 0, 200), (0, 80, 255), (200, 200, 0),
)  # fmt: skip


def to_pixels(points: Sequence[Point] | np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalised points as int32 pixel positions on a `width` x `height` picture (clipped to it)."""
    pts = np.rint(np.asarray(points, dtype=np.float64).reshape(-1, 2) * [width, height])
    return np.clip(pts, 0, [width - 1, height - 1]).astype(np.int32)


def line_width(canvas: np.ndarray, per: float = 360.0, least: int = 2) -> int:
    """A stroke that stays visible whatever the picture size."""
    return max(least, round(min(canvas.shape[:2]) / per))


def draw_zones(
    canvas: np.ndarray,
    polygons: Sequence[Sequence[Point]],
    colours: Sequence[Colour] = (ZONE_COLOUR,),
    thickness: int = 2,
    fill: float = 0.0,
    smooth: bool = False,
) -> list[np.ndarray]:
    """Outline each polygon (colours cycle), tinted with `fill` opacity first; returns their pixel points."""
    h, w = canvas.shape[:2]
    pixels = [to_pixels(p, w, h) for p in polygons]
    if fill > 0 and pixels:
        tinted = canvas.copy()
        for i, pts in enumerate(pixels):
            cv2.fillPoly(tinted, [pts], colours[i % len(colours)])
        cv2.addWeighted(tinted, fill, canvas, 1.0 - fill, 0, dst=canvas)
    line = cv2.LINE_AA if smooth else cv2.LINE_8
    for i, pts in enumerate(pixels):
        cv2.polylines(canvas, [pts], True, colours[i % len(colours)], thickness, line)
    return pixels


def draw_text(
    canvas: np.ndarray,
    text: str,
    origin: tuple[int, int],
    scale: float,
    colour: Colour,
    thickness: int = 1,
    halo: bool = False,
) -> None:
    """Text at `origin` (its baseline's left end); `halo`: a dark rim, readable on any background."""
    x, y = origin
    if halo:
        for dx, dy in ((-1, -1), (1, -1), (-1, 1), (1, 1), (0, 2)):
            cv2.putText(
                canvas, text, (x + dx, y + dy), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness,
                cv2.LINE_AA,
            )  # fmt: skip
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)


def draw_box(
    canvas: np.ndarray,
    box: Box | Sequence[float] | np.ndarray,
    colour: Colour = BOX_COLOUR,
    thickness: int = 2,
    label: str | None = None,
    label_scale: float = 0.45,
) -> None:
    """A rectangle around a normalised box, with `label` just above its top-left corner."""
    h, w = canvas.shape[:2]
    (x1, y1), (x2, y2) = to_pixels(np.asarray(box, dtype=np.float64).reshape(2, 2), w, h).tolist()
    cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness)
    if label:
        draw_text(canvas, label, (x1, max(10, y1 - 4)), label_scale, colour)


def draw_overlay(
    image: np.ndarray, zones: Sequence[NamedPolygon] = (), step: float | None = 0.1
) -> np.ndarray:
    """A copy of `image` with a normalised coordinate grid (labels along the top and left edges) and named
    zones, so polygon coordinates can be read off the picture.

    Grid lines sit at every `step` of the width and height (0.5 highlighted); a zone is its outline, lightly
    filled, with its name at its first point. Text goes on last, over lines and fills."""
    out = image.copy()
    h, w = out.shape[:2]
    scale = max(0.35, min(w, h) / 1000)
    labels: list[tuple[str, tuple[int, int], float, Colour]] = []
    steps = round(1 / step) if step else 0
    for i in range(1, steps):
        value = round(i * (step or 0), 6)
        major = abs(value - 0.5) < 1e-9
        colour = GRID_MAJOR_COLOUR if major else GRID_COLOUR
        x, y = round(value * (w - 1)), round(value * (h - 1))
        cv2.line(out, (x, 0), (x, h - 1), colour, 2 if major else 1)
        cv2.line(out, (0, y), (w - 1, y), colour, 2 if major else 1)
        labels.append((f"{value:g}", (x + 3, round(36 * scale)), scale * 0.8, colour))
        labels.append((f"{value:g}", (3, y - 4), scale * 0.8, colour))
    if zones:
        drawn = draw_zones(
            out, [z.polygon for z in zones], ZONE_PALETTE, max(2, round(scale * 3)), fill=0.25, smooth=True
        )
        for i, (zone, pts) in enumerate(zip(zones, drawn, strict=True)):
            x0, y0 = (int(v) for v in pts[0])
            origin = (min(x0 + 4, w - 10), min(max(y0 - 6, 14), h - 4))
            labels.append((zone.name, origin, scale * 0.9, ZONE_PALETTE[i % len(ZONE_PALETTE)]))
    for text, origin, size, colour in labels:
        draw_text(out, text, origin, size, colour, thickness=max(1, round(size * 2)), halo=True)
    return out
