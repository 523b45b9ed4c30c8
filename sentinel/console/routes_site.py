"""`/api/cameras` (status, a fresh snapshot with zones), `/api/grid` (cells as GeoJSON with open cases) and
`/api/kpis` (on-time closure, closure rate, rework, time per stage)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response
from shapely.geometry import mapping
from sqlalchemy import select

from sentinel.cases.kpis import KpiRow, compute_kpis
from sentinel.cases.models import CaseRow
from sentinel.cases.state_machine import OPEN
from sentinel.console.auth import current_user, get_deps, require
from sentinel.console.deps import ConsoleDeps
from sentinel.console.schemas import (
    CameraOut,
    ErrorOut,
    GridFeature,
    GridOut,
    GridProps,
    KpiOut,
    KpiRowOut,
    MapCameraOut,
)
from sentinel.console.users import User
from sentinel.console.views import is_overdue
from sentinel.fields.grid_code import area_of

router = APIRouter(prefix="/api", tags=["cameras, grid, KPIs"])
Deps = Annotated[ConsoleDeps, Depends(get_deps)]
AnyUser = Annotated[User, Depends(current_user)]
Technician = Annotated[User, Depends(require("technician"))]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
}


def camera_out(raw: dict[str, Any]) -> CameraOut:
    zones = raw.get("zones") or []
    return CameraOut(
        **{k: v for k, v in raw.items() if k not in ("zones", "up")},
        up=raw.get("state") == "online",
        zones=[{"name": z["name"], "polygon": z["polygon"]} for z in zones],
    )


def cameras(deps: ConsoleDeps) -> list[CameraOut]:
    return sorted((camera_out(c) for c in deps.camera_status()), key=lambda c: c.camera_id)


@router.get("/cameras", response_model=list[CameraOut], responses=ERRORS)
def list_cameras(deps: Deps, _user: AnyUser) -> list[CameraOut]:
    """Every camera's health: state, since, fps, last frame, error (passwords masked)."""
    return cameras(deps)


@router.get(
    "/cameras/{camera_id}/snapshot",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {"image/jpeg": {}}}, 503: {"model": ErrorOut}},
)
def camera_snapshot(camera_id: str, deps: Deps, _user: Technician) -> Response:
    """The camera's current view with its zones drawn (technicians: to check the view and the zones)."""
    if camera_id not in {c["camera_id"] for c in deps.camera_status()}:
        raise HTTPException(404, f"no camera {camera_id!r}")
    jpeg = deps.actions.fresh_snapshot(camera_id)
    if jpeg is None:
        raise HTTPException(503, f"camera {camera_id}: no frame to be had right now")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


def map_cameras(deps: ConsoleDeps, cases: list[CaseRow]) -> list[MapCameraOut]:
    """The cameras with a `location` (WGS-84, as cameras.yaml requires and the cells are once loaded: no datum
    shift here), their board state and their open cases; cameras without one have no place on the map."""
    states = {c["camera_id"]: c.get("state") for c in deps.camera_status()}
    open_at = Counter(c.camera_id for c in cases if c.camera_id)
    return [
        MapCameraOut(
            camera_id=cam.id,
            name=cam.name or cam.id,
            lon=cam.location.lon,
            lat=cam.location.lat,
            state=states.get(cam.id) or ("unknown" if cam.enabled else "disabled"),
            open_cases=open_at[cam.id],
        )  # fmt: skip
        for cam in sorted(deps.camera_configs(), key=lambda c: c.id)
        if cam.location is not None
    ]


@router.get("/grid", response_model=GridOut, responses=ERRORS)
def grid(deps: Deps, _user: AnyUser) -> GridOut:
    """Street, community and grid cells as a GeoJSON FeatureCollection (WGS-84), each with its open and
    overdue cases (a community or street counts those of its grids); and the cameras that have a position,
    with their state and open cases."""
    with deps.sessions() as s:
        cases = list(s.scalars(select(CaseRow).where(CaseRow.state.in_([st.value for st in OPEN]))))
    cams = map_cameras(deps, cases)
    if deps.cells is None:
        return GridOut(bbox=None, features=[], cameras=cams)
    now = deps.clock()
    open_by: Counter[str] = Counter()
    late_by: Counter[str] = Counter()
    for case in cases:
        code = case.grid_code or ""
        for prefix in {code, area_of(code, "community") or "", area_of(code, "street") or ""} - {""}:
            open_by[prefix] += 1
            late_by[prefix] += int(is_overdue(case, now))
    features = []
    bounds: list[float] | None = None
    for cell in deps.cells:
        features.append(
            GridFeature(
                properties=GridProps(
                    code=cell.code, name=cell.name, level=cell.level, parent=cell.parent,
                    open_cases=open_by[cell.code], overdue_cases=late_by[cell.code],
                ),
                geometry=dict(mapping(cell.geometry)),
            )
        )  # fmt: skip
        b = list(cell.geometry.bounds)
        bounds = (
            b
            if bounds is None
            else [min(bounds[0], b[0]), min(bounds[1], b[1]), max(bounds[2], b[2]), max(bounds[3], b[3])]
        )
    return GridOut(bbox=bounds, features=features, cameras=cams)


def _kpi_row(row: KpiRow, deps: ConsoleDeps) -> KpiRowOut:
    cell = deps.cells.get(row.key) if deps.cells is not None else None
    return KpiRowOut(**row.to_dict(), name=cell.name if cell else None)


def _worker_row(row: KpiRow, deps: ConsoleDeps) -> KpiRowOut:
    person = deps.roster.people.get(row.key) if deps.roster is not None else None
    return KpiRowOut(**row.to_dict(), name=person.name if person else None)


@router.get("/kpis", response_model=KpiOut, responses=ERRORS)
def kpis(
    deps: Deps,
    _user: AnyUser,
    since: Annotated[
        date | None, Query(description="only cases created on or after this day (YYYY-MM-DD)")
    ] = None,
) -> KpiOut:
    """按期结案率 on-time closure, 结案率 closure rate, 返工 rework, mean time per stage; overall, by grid, by
    community and by grid worker (the person who held each case at the grid-worker level, named from the
    roster; an escalated case stays its worker's)."""
    start = datetime.combine(since, time(0), tzinfo=deps.tz) if since else None
    report = compute_kpis(deps.sessions, deps.clock(), start)
    return KpiOut(
        at=report.at.astimezone(deps.tz).isoformat(timespec="seconds"),
        overall=_kpi_row(report.overall, deps),
        by_grid=[_kpi_row(r, deps) for r in report.by_grid],
        by_community=[_kpi_row(r, deps) for r in report.by_community],
        by_worker=[_worker_row(r, deps) for r in report.by_worker],
    )
