"""`/healthz` (no login), `/metrics` (Prometheus), `/api/events` (server-sent events), the OpenAPI document
and its docs page, the operator's page itself (`/`, `/login`) and the grid worker's phone page (`/m/`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from sqlalchemy import func, select, text

from sentinel import __version__
from sentinel.cases.models import CaseRow
from sentinel.console.auth import current_user, get_deps, signed_in, user_from_request
from sentinel.console.deps import ConsoleDeps
from sentinel.console.live import FeedClosed
from sentinel.console.metrics import CONTENT_TYPE
from sentinel.console.schemas import HealthOut, SiteOut
from sentinel.console.scope import actor_of, event_visible
from sentinel.console.users import User

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
PING_SECONDS = 15.0
RECHECK_SECONDS = 60.0  # a stream's user is checked again this often (signed out, deactivated)

router = APIRouter()
Deps = Annotated[ConsoleDeps, Depends(get_deps)]
AnyUser = Annotated[User, Depends(current_user)]
FieldOrStaff = Annotated[User, Depends(signed_in)]
PHONE_FILES = {  # what /m/ serves besides m.html: (file under static/, media type)
    "m.js": "text/javascript", "m.css": "text/css", "sw.js": "text/javascript",
    "manifest.webmanifest": "application/manifest+json", "icon.svg": "image/svg+xml",
    "icon-192.png": "image/png", "icon-512.png": "image/png",
}  # fmt: skip


@router.get("/healthz", response_model=HealthOut, tags=["system"])
def healthz(deps: Deps) -> JSONResponse:
    """Liveness for load balancers and orchestrators: 200 while the database answers, else 503."""
    try:
        with deps.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        db_ok = True
    except Exception:
        db_ok = False
    broker = deps.broker_connected() if deps.broker_connected is not None else None
    cams = deps.camera_status()
    online = sum(1 for c in cams if c.get("state") == "online")
    state = "down" if not db_ok else ("degraded" if broker is False or online < len(cams) else "ok")
    body = HealthOut(
        status=state, database=db_ok, broker=broker, cameras_online=online, cameras_total=len(cams),
        version=__version__,
    )  # fmt: skip
    return JSONResponse(body.model_dump(), status_code=200 if db_ok else 503)


@router.get("/api/site", response_model=SiteOut, tags=["system"])
def site(deps: Deps, _user: FieldOrStaff) -> SiteOut:
    s = deps.config.site
    return SiteOut(id=s.id, name=s.name, timezone=s.timezone, version=__version__)


@router.get("/metrics", tags=["system"], response_class=Response)
def metrics(deps: Deps, _user: AnyUser) -> Response:
    """Prometheus text format (scrape with a bearer token: `sentinel users token`)."""
    try:
        with deps.sessions() as s:
            rows = s.execute(select(CaseRow.state, func.count()).group_by(CaseRow.state))
            deps.metrics.set_case_counts({state: n for state, n in rows})
    except Exception as exc:  # the database is away: serve the rest
        log.warning("metrics: cannot count cases: %s", exc)
    return Response(deps.metrics.render(), media_type=CONTENT_TYPE)


@router.get("/api/events", tags=["live"], response_class=StreamingResponse)
async def events(
    request: Request,
    deps: Deps,
    user: FieldOrStaff,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-sent events: `alert`, `alert_review`, `case`, `camera` (each `data:` is JSON). A reconnecting
    client sends Last-Event-ID and gets what it missed, as far as the short history reaches. Field staff get
    only the `case` events of the cases they see."""
    actor = actor_of(user, deps)
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    sub = deps.live.subscribe(after)

    async def stream() -> AsyncIterator[str]:
        checked = time.monotonic()
        try:
            yield f"retry: 2000\nid: {deps.live.last_id if after is None else after}\n: connected\n\n"
            while True:
                try:
                    event = await sub.get(PING_SECONDS)
                except FeedClosed:
                    return
                if await request.is_disconnected():
                    return
                if time.monotonic() - checked > RECHECK_SECONDS:
                    checked = time.monotonic()
                    if await run_in_threadpool(user_from_request, request, deps) is None:
                        yield "event: logout\ndata: {}\n\n"
                        return
                if event is None:
                    yield ": ping\n\n"
                elif actor is None or event_visible(actor, event.kind, event.data()):
                    yield event.sse()
        except asyncio.CancelledError:  # the server is stopping
            return
        finally:
            sub.close()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


@router.get("/api/openapi.json", include_in_schema=False)
def openapi(request: Request, _user: AnyUser) -> JSONResponse:
    schema: dict[str, Any] = request.app.openapi()
    return JSONResponse(schema)


@router.get("/api/docs", include_in_schema=False)
def docs(_user: AnyUser) -> FileResponse:
    """Swagger UI from the console's own copy (`console/docs.py`)."""
    return FileResponse(STATIC / "docs.html", headers={"Cache-Control": "no-store"})


# ---------------------------------------------------------------- the page


def _signed_in(request: Request, deps: ConsoleDeps) -> User | None:
    try:
        return user_from_request(request, deps)
    except Exception:
        return None


@router.get("/", include_in_schema=False, response_model=None)
def index(request: Request, deps: Deps) -> Response:
    user = _signed_in(request, deps)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    if user.field:  # field staff have the phone page
        return RedirectResponse("/m/", status_code=303)
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


@router.get("/m", include_in_schema=False)
def phone_root() -> RedirectResponse:
    return RedirectResponse("/m/", status_code=308)


@router.get("/m/", include_in_schema=False, response_model=None)
def phone(request: Request, deps: Deps) -> Response:
    """The grid worker's phone page (installable: manifest and a service worker under /m/)."""
    if _signed_in(request, deps) is None:
        return RedirectResponse("/login?next=/m/", status_code=303)
    return FileResponse(STATIC / "m.html", headers={"Cache-Control": "no-store"})


@router.get("/m/{name}", include_in_schema=False)
def phone_file(name: str) -> FileResponse:
    """The phone page's own files, under /m/ so that its service worker's scope is /m/."""
    media_type = PHONE_FILES.get(name)
    if media_type is None:
        raise HTTPException(404, "no such file")
    headers = {"Cache-Control": "no-cache"}
    if name == "sw.js":
        headers["Service-Worker-Allowed"] = "/m/"
    return FileResponse(STATIC / name, media_type=media_type, headers=headers)


@router.get("/login", include_in_schema=False)
def login_page() -> FileResponse:
    return FileResponse(STATIC / "login.html", headers={"Cache-Control": "no-store"})
