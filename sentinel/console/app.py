"""The console's FastAPI application: REST API under `/api`, the operator page, `/metrics`, `/healthz`.

app = create_app(ConsoleDeps(engine, config, actions, live=feed, camera_status=..., cells=..., roster=...))
ConsoleServer(app, config.console.host, config.console.port).start()
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from sentinel import __version__
from sentinel.cases.state_machine import CaseError
from sentinel.console import (
    media,
    routes_alerts,
    routes_cases,
    routes_nodes,
    routes_phone,
    routes_site,
    routes_system,
    routes_users,
)
from sentinel.console.body_limit import BodyLimit
from sentinel.console.deps import ActionError, ConsoleDeps
from sentinel.console.docs import swagger_assets
from sentinel.console.forwarded import ForwardedHeaders
from sentinel.console.http_security import SameOriginWrites, SecurityHeaders
from sentinel.console.login_limit import DatabaseFailures, LoginLimiter
from sentinel.console.users import NoSuchUser, UserError, UserExists

log = logging.getLogger(__name__)

ROUTERS = tuple(
    m.router
    for m in (
        routes_users,
        routes_alerts,
        routes_cases,
        routes_phone,
        routes_site,
        routes_nodes,
        media,
        routes_system,
    )
)
CASE_ERROR_STATUS = {
    "unknown_case": 404,
    "unknown_action": 422,
    "bad_request": 422,
    "illegal_transition": 409,
    "conflict": 409,
    "forbidden": 403,
}


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "request"


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """422 with one readable line per problem; the offending values are not echoed (they may be passwords)."""
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append({"loc": [str(p) for p in err.get("loc", ())], "msg": msg, "type": err.get("type")})
    detail = "; ".join(f"{_where(tuple(p['loc']))}: {p['msg']}" for p in problems)
    return JSONResponse({"detail": detail, "errors": problems}, status_code=422)


async def _action_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ActionError)
    return JSONResponse({"detail": exc.message}, status_code=exc.status)


async def _case_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CaseError)
    return JSONResponse({"detail": exc.reason}, status_code=CASE_ERROR_STATUS.get(exc.code, 409))


async def _user_error(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, NoSuchUser | UserExists):
        return JSONResponse({"detail": str(exc)}, status_code=404 if isinstance(exc, NoSuchUser) else 409)
    problem = {"loc": ["body"], "msg": str(exc), "type": "value_error"}
    return JSONResponse({"detail": f"body: {exc}", "errors": [problem]}, status_code=422)


def create_app(deps: ConsoleDeps) -> FastAPI:
    app = FastAPI(
        title="Sentinel console API",
        version=__version__,
        description="Alerts, grid cases, cameras, grid and KPIs of a Sentinel site. Sign in with the "
        "session cookie (POST /api/auth/login) or a bearer token (`sentinel users token`).",
        openapi_url=None,  # served by routes_system behind the login, at /api/openapi.json
        docs_url=None,
        redoc_url=None,
    )
    app.state.deps = deps
    app.state.login_limiter = LoginLimiter(store=DatabaseFailures(deps.sessions))
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ActionError, _action_error)
    app.add_exception_handler(CaseError, _case_error)
    app.add_exception_handler(UserError, _user_error)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static/swagger-ui", swagger_assets(), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=routes_system.STATIC), name="static")

    # outermost last: every answer gets the headers (a 413 too); the body is limited before anything reads
    # it; the client's address and scheme are settled before the origin check and the routes use them
    console = deps.config.console
    app.add_middleware(SameOriginWrites)
    app.add_middleware(ForwardedHeaders, trusted=console.proxy_networks)
    app.add_middleware(BodyLimit, max_body=console.max_body, uploads=routes_phone.UPLOADS)
    app.add_middleware(SecurityHeaders)
    return app
