"""The tiling rules of a grid file: a child lies inside its parent, siblings do not overlap, and children
leave no gap in their parent, each up to an area tolerance (m², measured in a local metric frame)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely
from shapely.strtree import STRtree

from sentinel.geo.cells import LEVELS, PARENT_LEVEL, GridCell
from sentinel.geo.geolocate import LocalFrame

# report(cell, key, message): one problem of a cell, under its feature's `key`
Report = Callable[[GridCell, str, str], None]


def check_tiling(cells: list[GridCell], dropped: set[str], tolerance_m2: float, report: Report) -> None:
    """Tiling checks. `dropped`: codes of unreadable features and their parents — already reported, so
    their absence is not reported again as an unknown parent, an empty parent or a gap."""
    if not cells:
        return
    by_code = {c.code: c for c in cells}
    bounds = np.array([c.geometry.bounds for c in cells])
    frame = LocalFrame.around(np.vstack((bounds[:, :2], bounds[:, 2:])))
    metric = {c.code: shapely.transform(c.geometry, frame.to_local) for c in cells}
    tol = tolerance_m2

    for cell in cells:
        if metric[cell.code].area <= tol:
            report(cell, "geometry", f"has (almost) no area ({metric[cell.code].area:.1f} m²)")
        up = PARENT_LEVEL[cell.level]
        if up is None or cell.parent is None:
            continue
        parent = by_code.get(cell.parent)
        if parent is None and cell.parent in dropped:
            continue
        if parent is None:
            report(cell, "properties.parent", f"unknown parent {up} {cell.parent}: no feature has that code")
            continue
        outside = metric[cell.code].difference(metric[parent.code]).area
        if outside > tol:
            where = "outside" if outside >= metric[cell.code].area - tol else "partly outside"
            report(
                cell,
                "geometry",
                f"lies {where} its {up} {parent.code} ({parent.name}): {outside:.0f} m² outside",
            )

    for level in LEVELS:
        same = sorted((c for c in cells if c.level == level), key=lambda c: c.code)
        tree = STRtree([metric[c.code] for c in same])
        for i, cell in enumerate(same):
            for j in sorted(int(k) for k in tree.query(metric[cell.code], predicate="intersects")):
                if j <= i:
                    continue
                other = same[j]
                area = metric[cell.code].intersection(metric[other.code]).area
                if area > tol:
                    report(other, "geometry", f"overlaps {cell.label()} by {area:.0f} m²")

    for parent in sorted(cells, key=lambda c: c.code):
        if parent.level == "grid":
            continue
        kids = [c for c in cells if c.parent == parent.code]
        below = "communities" if parent.level == "street" else "grids"
        if not kids:
            if parent.code not in dropped:
                report(parent, "", f"has no {below}: points inside it cannot be placed in a grid")
            continue
        if parent.code in dropped:
            continue  # a child could not be read; its hole is not a gap
        gap = metric[parent.code].difference(shapely.union_all([metric[k.code] for k in kids]))
        if gap.area > tol:
            pieces = list(getattr(gap, "geoms", [gap]))
            biggest = max(pieces, key=lambda g: g.area)
            p = biggest.representative_point()
            lon, lat = frame.to_lonlat([(p.x, p.y)])[0]
            report(
                parent,
                "geometry",
                f"{gap.area:.0f} m² not covered by any of its {below} (e.g. around lon {lon:.6f}, lat {lat:.6f})",
            )
