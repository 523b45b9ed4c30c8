"""`/media/snapshots/DAY/ID.jpg` and `/media/clips/DAY/ID.mp4`: alert snapshots and clips under `data_dir`,
to signed-in users only; field staff (grid_worker) only those of alerts filed under the cases they see (the
file is named after its alert).

Only names the daemon writes are served (a date folder, a UUID-like file name, `.jpg` / `.mp4`), and the
resolved path must still lie under its folder: no `..`, no symlink out, nothing else from data_dir.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse

from sentinel.console.auth import get_deps, signed_in
from sentinel.console.deps import ConsoleDeps
from sentinel.console.scope import actor_of, alert_visible
from sentinel.console.users import User

DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}\.(jpg|mp4)$")
MEDIA_PREFIX = "/media/snapshots/"
TREES = {"snapshots": (".jpg", "image/jpeg"), "clips": (".mp4", "video/mp4")}

router = APIRouter(tags=["media"])


def _inside(root: Path, day: str, name: str) -> Path | None:
    if not DAY.match(day) or not NAME.match(name):
        return None
    base = root.resolve()
    path = (base / day / name).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def snapshot_file(data_dir: Path, url: str | None, stored: Path | None) -> Path | None:
    """The file of an alert's snapshot: by its URL (`/media/snapshots/DAY/ID.jpg`), else the stored path;
    None when neither names an existing file under `<data_dir>/snapshots`."""
    root = data_dir / "snapshots"
    if url and url.startswith(MEDIA_PREFIX):
        day, _, name = url[len(MEDIA_PREFIX) :].partition("/")
        found = _inside(root, day, name)
        if found is not None:
            return found
    if stored is not None:
        return _inside(root, stored.parent.name, stored.name)
    return None


@router.get(
    "/media/{tree}/{day}/{name}",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}, "video/mp4": {}}}, 401: {}, 404: {}},
)
def media_file(
    tree: str,
    day: str,
    name: str,
    deps: Annotated[ConsoleDeps, Depends(get_deps)],
    user: Annotated[User, Depends(signed_in)],
) -> FileResponse:
    """An alert's snapshot (`snapshots/DAY/ID.jpg`) or clip (`clips/DAY/ID.mp4`, byte ranges for seeking)."""
    kind = TREES.get(tree)
    path = _inside(deps.data_dir / tree, day, name) if kind and name.endswith(kind[0]) else None
    if path is None or kind is None:
        raise HTTPException(404, "no such file")
    actor = actor_of(user, deps)
    if actor is not None:
        with deps.sessions() as s:
            if not alert_visible(s, name.rsplit(".", 1)[0], actor):
                raise HTTPException(404, "no such file")
    return FileResponse(path, media_type=kind[1], headers={"Cache-Control": "private, max-age=86400"})
