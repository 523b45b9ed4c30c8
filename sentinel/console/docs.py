"""The API docs page's Swagger UI, served by the console itself from the swagger-ui-bundle package (a fixed,
installed copy: no CDN, no floating version, nothing from another origin). Only the files the page loads are
served; `/api/docs` (behind the login, `routes_system`) is `static/docs.html`, started by `static/docs.js`."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Route, Router

ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "favicon-16x16.png")


def swagger_ui_dir() -> Path:
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


def swagger_assets() -> Router:
    """An app to mount at /static/swagger-ui: the Swagger UI files the docs page uses, and nothing else."""
    root = swagger_ui_dir()

    def serve(name: str) -> Route:
        async def endpoint(_request: Request) -> FileResponse:
            return FileResponse(root / name, headers={"Cache-Control": "public, max-age=86400"})

        return Route(f"/{name}", endpoint, methods=["GET", "HEAD"])

    return Router([serve(name) for name in ASSETS])
