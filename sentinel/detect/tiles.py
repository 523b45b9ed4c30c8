"""Zone tiles (issue 16): zones a camera names in `detect_tiles`, cropped from the frame at full resolution
and packed beside the full view into the detector's own input size, and the boxes found mapped back.

A frame letterboxed into a W x H input leaves a band unused (416 x 416: 416 x 104 for a 4:3 frame, 416 x 182
for 16:9). A canvas is a picture of exactly the input size (so the detector's letterbox is the identity): the
full view at the top (left, for a portrait frame), the tiles in the band below it, at one common scale, so
the same single inference sees them. Tiles that do not fit the band at a useful scale (`MIN_GAIN` times the
full view's) go on further canvases of tiles only: one more inference each.

Everything here is geometry on numpy arrays (no frames, no detector): `plan_tiles` lays the canvases out,
`compose` draws them, `merge` turns the detector's boxes on them into one frame-normalised `Detections`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from sentinel.detect.detections import Detections

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, x1 / y1 exclusive
Size = tuple[int, int]  # width, height

GAP = 4  # black pixels between the full view and the tiles, and between tiles
PAD = 0.15  # a zone's rectangle grows by this fraction of its size each side: objects stand in it, rise above
MIN_GAIN = 1.5  # a tile is worth it only at >= 1.5 times the full view's scale
MAX_SCALE = 1.0  # never above the frame's own resolution: upscaling adds no detail
EDGE = 2  # canvas pixels: a box this close to a tile's inner cut edge was cut by it
SUPERSEDE_IOU = 0.5  # a tile box replaces a full-view box of its class it overlaps this much
NESTED = 0.8  # ... or one that holds this much of it (a box around two neighbours the tile tells apart),
NESTED_AREA = 0.3  # ... if it is at least this share of that box's area (a fragment, e.g. a wheel, is not)
WHOLE = 0.8  # a tile box under this share of the full-view box it overlaps shows only part of the object
TILE_NMS_IOU = 0.5  # where two tiles overlap, the same object found twice is kept once


@dataclass(frozen=True)
class Tile:
    zone: str
    src: Rect  # the crop, in frame pixels (even coordinates: the 4:2:0 chroma planes crop with them)
    canvas: int  # 0: the band beside the full view; 1, 2, ...: a canvas of tiles only
    dst: Rect  # where it is drawn on that canvas
    cut: tuple[bool, bool, bool, bool]  # (left, top, right, bottom): an edge inside the frame, not its border

    @property
    def size(self) -> Size:
        return self.dst[2] - self.dst[0], self.dst[3] - self.dst[1]


@dataclass(frozen=True)
class TileLayout:
    input_size: Size  # the detector's (canvas) width, height
    frame_size: Size  # the frame's, in pixels
    view: Rect  # the full view on canvas 0
    tiles: tuple[Tile, ...]
    skipped: tuple[str, ...] = ()  # zones no tile would show at MIN_GAIN (the full view is near full size)

    @property
    def canvases(self) -> int:
        """Pictures (inferences) per frame."""
        return 1 + max((t.canvas for t in self.tiles), default=0)

    def gain(self, tile: Tile) -> float:
        """The tile's scale over the full view's."""
        return (tile.size[0] / (tile.src[2] - tile.src[0])) / (
            (self.view[2] - self.view[0]) / self.frame_size[0]
        )

    def describe(self) -> str:
        parts = []
        for t in self.tiles:
            where = "in the band" if t.canvas == 0 else f"on extra input {t.canvas}"
            parts.append(f"{t.zone} {where} (x{self.gain(t):.2f})")
        extra = self.canvases - 1
        cost = f"{1 + extra} inferences per frame" if extra else "no extra inference"
        parts += [
            f"{name} not tiled (the full view is within x{MIN_GAIN:g} of full resolution)"
            for name in self.skipped
        ]
        return f"{', '.join(parts)}; {cost}"


def zone_rect(polygon: Sequence[Sequence[float]], frame_size: Size, pad: float = PAD) -> Rect:
    """The zone's bounding rectangle in frame pixels, `pad` larger each side, even-aligned, inside the frame."""
    fw, fh = frame_size
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    x0, x1, y0, y1 = min(xs) * fw, max(xs) * fw, min(ys) * fh, max(ys) * fh
    dx, dy = pad * (x1 - x0), pad * (y1 - y0)
    ex0 = max(0, int(np.floor((x0 - dx) / 2)) * 2)
    ey0 = max(0, int(np.floor((y0 - dy) / 2)) * 2)
    ex1 = min(fw, int(np.ceil((x1 + dx) / 2)) * 2)
    ey1 = min(fh, int(np.ceil((y1 + dy) / 2)) * 2)
    return ex0, ey0, max(ex1, ex0 + 2), max(ey1, ey0 + 2)


def view_size(frame_size: Size, input_size: Size) -> Size:
    """The full view's size on the canvas: the letterbox's (aspect kept, as large as fits)."""
    (fw, fh), (w, h) = frame_size, input_size
    s = min(w / fw, h / fh)
    return max(1, min(w, round(fw * s))), max(1, min(h, round(fh * s)))


def plan_tiles(
    frame_size: Size,
    input_size: Size,
    zones: Sequence[tuple[str, Sequence[Sequence[float]]]],
    gap: int = GAP,
    min_gain: float = MIN_GAIN,
) -> TileLayout:
    """Where each zone's tile goes: in the band if it fits there (with the ones already placed) at
    >= `min_gain` times the full view's scale, else on the first extra canvas where it does, else on a new one
    (alone, as large as fits), unless even that is under `min_gain` (`TileLayout.skipped`). Smallest zones
    first: they are the ones the band holds."""
    fw, fh = frame_size
    w, h = input_size
    vw, vh = view_size(frame_size, input_size)
    view: Rect = (0, 0, vw, vh)
    if vh + gap < h:  # landscape: the band below
        band: Rect = (0, vh + gap, w, h)
    elif vw + gap < w:  # portrait: the band right of it
        band = (vw + gap, 0, w, h)
    else:
        band = (0, 0, 0, 0)
    want = min_gain * vw / fw  # the least scale worth a tile
    rects = _joined([(name, zone_rect(poly, frame_size)) for name, poly in zones], input_size, want, gap)
    rects.sort(key=lambda nr: (nr[1][2] - nr[1][0]) * (nr[1][3] - nr[1][1]))
    groups: list[list[int]] = [[]]  # tile indices per canvas; canvas 0 is the band
    regions: list[Rect] = [band]
    skipped: list[str] = []
    for i in range(len(rects)):
        for c, members in enumerate(groups):
            fit = _fit([rects[j][1] for j in [*members, i]], regions[c], gap)
            if fit is not None and fit[0] >= want:
                members.append(i)
                break
        else:
            alone = _fit([rects[i][1]], (0, 0, w, h), gap)
            if alone is None or alone[0] < want:  # the full view is already as sharp as a tile could be
                skipped.append(rects[i][0])
                continue
            groups.append([i])
            regions.append((0, 0, w, h))
    tiles: list[Tile] = []
    for c, members in enumerate(groups):
        if not members:
            continue
        fit = _fit([rects[j][1] for j in members], regions[c], gap)
        assert fit is not None  # a lone tile fits a whole canvas at some scale
        _, placed = fit
        for j, dst in zip(members, placed, strict=True):
            name, src = rects[j]
            cut = (src[0] > 0, src[1] > 0, src[2] < fw, src[3] < fh)
            tiles.append(Tile(name, src, c, dst, cut))
    return TileLayout(input_size, frame_size, view, tuple(tiles), tuple(skipped))


def _joined(rects: list[tuple[str, Rect]], input_size: Size, want: float, gap: int) -> list[tuple[str, Rect]]:
    """Overlapping zone rectangles as one tile (`a+b`) where that one still reaches `want` on a canvas of its
    own: an object standing across two neighbouring zones' edge is then seen whole, not cut in both."""
    out = list(rects)
    whole: Rect = (0, 0, *input_size)
    joined = True
    while joined:
        joined = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                (na, a), (nb, b) = out[i], out[j]
                if min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1]):
                    continue
                u = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                fit = _fit([u], whole, gap)
                if fit is not None and fit[0] >= want:
                    out[i], joined = (f"{na}+{nb}", u), True
                    del out[j]
                    break
            if joined:
                break
    return out


def _scaled(rect: Rect, s: float) -> Size:
    """A rectangle's size at scale s, even (the crop is converted as 4:2:0)."""
    return max(2, round((rect[2] - rect[0]) * s / 2) * 2), max(2, round((rect[3] - rect[1]) * s / 2) * 2)


def _shelves(sizes: list[Size], region: Rect, gap: int) -> list[Rect] | None:
    """Shelf packing, tallest first: each rectangle's place in `region`, or None if they do not all fit."""
    rx0, ry0, rx1, ry1 = region
    out: list[Rect | None] = [None] * len(sizes)
    x, y, shelf = rx0, ry0, 0
    for i in sorted(range(len(sizes)), key=lambda k: -sizes[k][1]):
        sw, sh = sizes[i]
        if x > rx0 and x + sw > rx1:  # next shelf
            x, y, shelf = rx0, y + shelf + gap, 0
        if x + sw > rx1 or y + sh > ry1:
            return None
        out[i] = (x, y, x + sw, y + sh)
        x, shelf = x + sw + gap, max(shelf, sh)
    return [r for r in out if r is not None]


def _fit(rects: list[Rect], region: Rect, gap: int) -> tuple[float, list[Rect]] | None:
    """The largest common scale (<= MAX_SCALE) at which `rects` pack into `region`, and their places."""
    if region[2] - region[0] < 2 or region[3] - region[1] < 2:
        return None
    placed = _shelves([_scaled(r, MAX_SCALE) for r in rects], region, gap)
    if placed is not None:
        return MAX_SCALE, placed
    lo, hi, best = 0.0, MAX_SCALE, None
    for _ in range(20):  # bisection: packing is (near enough) monotone in the scale
        mid = (lo + hi) / 2
        p = _shelves([_scaled(r, mid) for r in rects], region, gap)
        if p is not None:
            lo, best = mid, p
        else:
            hi = mid
    return (lo, best) if best is not None else None


def compose(layout: TileLayout, view: np.ndarray, crops: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The canvases (BGR uint8, the input size, black elsewhere): the full view (any size: resized to the
    layout's view) and each tile's crop (at its tile's size, in `layout.tiles` order)."""
    w, h = layout.input_size
    canvases = [np.zeros((h, w, 3), dtype=np.uint8) for _ in range(layout.canvases)]
    vx0, vy0, vx1, vy1 = layout.view
    if view.shape[1] != vx1 - vx0 or view.shape[0] != vy1 - vy0:  # as the detector's letterbox resizes
        view = cv2.resize(view, (vx1 - vx0, vy1 - vy0), interpolation=cv2.INTER_LINEAR)
    canvases[0][vy0:vy1, vx0:vx1] = view
    for tile, crop in zip(layout.tiles, crops, strict=True):
        x0, y0, x1, y1 = tile.dst
        canvases[tile.canvas][y0:y1, x0:x1] = crop
    return canvases


def merge(layout: TileLayout, results: Sequence[Detections]) -> Detections:
    """One frame's boxes (normalised to the frame) from the detector's output on each canvas (normalised to
    the canvas): full-view boxes centred in the view; tile boxes centred in their tile and clear of its cut
    edges, which replace the full-view boxes of their class they overlap (`SUPERSEDE_IOU`, `NESTED`)."""
    w, h = layout.input_size
    fw, fh = layout.frame_size
    scale = np.array([w, h, w, h], dtype=np.float32)
    first = results[0]
    px = first.xyxy * scale
    inside = _centred(px, layout.view)
    vx0, vy0, vx1, vy1 = layout.view
    view_xyxy = (px[inside] - [vx0, vy0, vx0, vy0]) / np.array([vx1 - vx0, vy1 - vy0] * 2, np.float32)
    # as the detector clips boxes to its picture: a full-view box may reach into the band
    view_xyxy = np.clip(view_xyxy, 0.0, 1.0)
    view = Detections(view_xyxy.astype(np.float32), first.score[inside], first.class_id[inside])
    found: list[Detections] = []
    for tile in layout.tiles:
        dets = results[tile.canvas]
        tp = dets.xyxy * scale
        keep = _centred(tp, tile.dst) & ~_cut(tp, tile)
        tx0, ty0, tx1, ty1 = tile.dst
        sx0, sy0, sx1, sy1 = tile.src
        clipped = np.clip(tp[keep], [tx0, ty0, tx0, ty0], [tx1, ty1, tx1, ty1])
        k = np.array([(sx1 - sx0) / (tx1 - tx0), (sy1 - sy0) / (ty1 - ty0)] * 2, np.float32)
        frame_px = (clipped - [tx0, ty0, tx0, ty0]) * k + [sx0, sy0, sx0, sy0]
        xyxy = (frame_px / np.array([fw, fh, fw, fh], np.float32)).astype(np.float32)
        found.append(Detections(xyxy, dets.score[keep], dets.class_id[keep]))
    tiled = _nms(_concat(found)) if found else Detections.empty()
    if len(tiled) == 0:
        return view
    drop_view, drop_tiled = _conflicts(view, tiled)
    return _concat([view[~drop_view], tiled[~drop_tiled]])


def _centred(px: np.ndarray, rect: Rect) -> np.ndarray:
    cx, cy = (px[:, 0] + px[:, 2]) / 2, (px[:, 1] + px[:, 3]) / 2
    return (cx >= rect[0]) & (cx < rect[2]) & (cy >= rect[1]) & (cy < rect[3])


def _cut(px: np.ndarray, tile: Tile) -> np.ndarray:
    """Boxes reaching to within EDGE of one of the tile's cut edges: the object goes on beyond the crop."""
    x0, y0, x1, y1 = tile.dst
    left, top, right, bottom = tile.cut
    out = np.zeros(len(px), dtype=bool)
    if left:
        out |= px[:, 0] <= x0 + EDGE
    if top:
        out |= px[:, 1] <= y0 + EDGE
    if right:
        out |= px[:, 2] >= x1 - EDGE
    if bottom:
        out |= px[:, 3] >= y1 - EDGE
    return out


def _concat(parts: Sequence[Detections]) -> Detections:
    return Detections(
        np.concatenate([p.xyxy for p in parts]).astype(np.float32).reshape(-1, 4),
        np.concatenate([p.score for p in parts]).astype(np.float32),
        np.concatenate([p.class_id for p in parts]).astype(np.int32),
    )


def _iou_and_cover(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[len(a), len(b)] IoU, and the share of each b box inside each a box."""
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(union, 1e-12), inter / np.maximum(area_b[None, :], 1e-12)


def _conflicts(view: Detections, tiled: Detections) -> tuple[np.ndarray, np.ndarray]:
    """Which full-view and which tile boxes to drop where both show one object (same class): one box over
    the other (IoU >= SUPERSEDE_IOU) keeps the tile's, unless the tile's is much the smaller (`WHOLE`: the
    object went on past the tile's edge, its box stopping just short of it); a full-view box holding most of
    a tile box (`NESTED`, `NESTED_AREA`: two neighbours in one box) gives way to the tile's."""
    if len(view) == 0:
        return np.zeros(0, dtype=bool), np.zeros(len(tiled), dtype=bool)
    iou, cover = _iou_and_cover(view.xyxy, tiled.xyxy)
    same = view.class_id[:, None] == tiled.class_id[None, :]
    area_v = (view.xyxy[:, 2] - view.xyxy[:, 0]) * (view.xyxy[:, 3] - view.xyxy[:, 1])
    area_t = (tiled.xyxy[:, 2] - tiled.xyxy[:, 0]) * (tiled.xyxy[:, 3] - tiled.xyxy[:, 1])
    share = area_t[None, :] / np.maximum(area_v[:, None], 1e-12)
    one = same & (iou >= SUPERSEDE_IOU)
    cut_short = one & (share < WHOLE)
    split = same & (iou < SUPERSEDE_IOU) & (cover >= NESTED) & (share >= NESTED_AREA)
    drop_tiled = np.asarray(cut_short.any(axis=0))
    drop_view = np.asarray(((one & ~cut_short) | split)[:, ~drop_tiled].any(axis=1))
    return drop_view, drop_tiled


def _nms(d: Detections) -> Detections:
    """Class-wise: of two tile boxes of one object (overlapping tiles), the higher score."""
    order = np.argsort(-d.score, kind="stable")
    keep: list[int] = []
    for i in order:
        if keep:
            k = np.array(keep)
            iou, _ = _iou_and_cover(d.xyxy[k], d.xyxy[i : i + 1])
            if np.any((iou[:, 0] >= TILE_NMS_IOU) & (d.class_id[k] == d.class_id[i])):
                continue
        keep.append(int(i))
    return d[np.array(sorted(keep), dtype=np.int64)]


@dataclass(frozen=True)
class TiledInput:
    """What one frame gives a detector: its pictures (one, or the canvases) and how their boxes merge."""

    pictures: list[np.ndarray]
    layout: TileLayout | None = None  # None: one plain picture, its boxes as they are

    def merge(self, results: Sequence[Detections]) -> Detections:
        return results[0] if self.layout is None else merge(self.layout, results)


def input_size_of(detector: object) -> Size | None:
    """A detector's fixed input size: its `input_size`, else its model card's (`OnnxDetector.card`); None
    for a detector that declares neither (it takes pictures of any size: no canvas to fill)."""
    size = getattr(detector, "input_size", None)
    if size is not None:
        return int(size[0]), int(size[1])
    spec = getattr(getattr(detector, "card", None), "input", None)
    if spec is None:
        return None
    return int(spec.width), int(spec.height)
