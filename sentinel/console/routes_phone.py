"""What the grid worker's phone page (`/m/`) uses besides the case routes: `GET /api/my/cases`, the photo
upload `POST /api/cases/{ref}/evidence` and `GET /api/evidence/{id}`.

The upload is one request for the report: up to MAX_PHOTOS photos, a note, and `feedback=true` to report the
work done (处理反馈) in the same go. Every photo is checked and re-encoded first (evidence.py); then the
feedback action runs through the case engine (its authority decides); then the photos are stored, each row
tied to that feedback entry of the case log. A refused photo or action leaves nothing behind.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from sqlalchemy import func, select

from sentinel.alerts.models import AlertRow
from sentinel.cases.authority import Actor
from sentinel.cases.models import CaseAlertRow, CaseRow, CaseTransitionRow
from sentinel.cases.state_machine import OPEN
from sentinel.console.auth import get_deps, signed_in
from sentinel.console.deps import ConsoleDeps, Invalid
from sentinel.console.evidence import (
    MAX_BODY,
    MAX_NOTE,
    MAX_PHOTOS,
    CleanPhoto,
    EvidenceFiles,
    Photo,
    PhotoRejected,
    clean_photo,
)
from sentinel.console.models import EvidenceRow
from sentinel.console.routes_cases import _detail, require_actor
from sentinel.console.schemas import CaseDetail, ErrorOut, MyCaseOut, MyCasePage
from sentinel.console.scope import actor_of, case_actor, case_filter, visible_case
from sentinel.console.users import User
from sentinel.console.views import case_out, map_links, person

router = APIRouter(prefix="/api", tags=["phone"])
Deps = Annotated[ConsoleDeps, Depends(get_deps)]
FieldOrStaff = Annotated[User, Depends(signed_in)]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
}
UPLOAD_PATH = re.compile(r"^/api/cases/[^/]+/evidence$")  # BodyLimit gives it MAX_BODY
UPLOADS = ((UPLOAD_PATH, MAX_BODY),)
MY_CASES = 500  # the nearest deadlines: more than a phone shows


def _first_alert(s: Any, case: CaseRow) -> AlertRow | None:
    joined = select(CaseAlertRow.alert_id).where(CaseAlertRow.case_id == case.id)
    q = select(AlertRow).where(AlertRow.id.in_(joined)).order_by(AlertRow.detected_at.desc())
    return next((a for a in s.scalars(q) if a.snapshot_path or (a.payload or {}).get("snapshot")), None)


def _my_case(s: Any, case: CaseRow, deps: ConsoleDeps, actor: Actor | None) -> MyCaseOut:
    out = case_out(case, deps)
    alert = _first_alert(s, case)
    clip = ((alert.payload or {}).get("clip") or {}) if alert else {}
    place = out.place
    names = [place.street_name, place.community_name, place.name or place.grid] if place else []
    return MyCaseOut(
        **out.model_dump(), place_path=" / ".join(n for n in names if n) or "-",
        snapshot_url=f"/api/alerts/{alert.id}/snapshot" if alert else None,
        clip_url=clip.get("url") if clip.get("state") in ("ready", "partial") else None,
        map=map_links(case.lat, case.lon),
        roles=sorted(actor.roles_on(case)) if actor is not None else ["operator"],
        escalated=case.escalation_level > 0,
    )  # fmt: skip


@router.get("/my/cases", response_model=MyCasePage, responses=ERRORS)
def my_cases(deps: Deps, user: FieldOrStaff) -> MyCasePage:
    """The caller's open cases, the nearest deadline first (overdue ones lead): a grid worker's own grids
    and what is dispatched to them; a grid leader's grids, escalations included. Staff: every open case."""
    actor = actor_of(user, deps)
    due = func.coalesce(CaseRow.deadline_at, CaseRow.due_at)
    q = select(CaseRow).where(CaseRow.state.in_([s.value for s in OPEN]), case_filter(actor))
    q = q.order_by(due.is_(None), due, CaseRow.number).limit(MY_CASES)
    with deps.sessions() as s:
        items = [_my_case(s, c, deps, actor) for c in s.scalars(q)]
    return MyCasePage(
        items=items, person=person(deps, actor.id) if actor is not None else None,
        roles=sorted({g.role.value for g in actor.grants}) if actor is not None else [user.role],
    )  # fmt: skip


@dataclass(frozen=True)
class Part:
    """One part of the upload form: a file (`filename` set, possibly empty) or a text field."""

    name: str
    filename: str | None
    data: bytes

    def text(self) -> str:
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid(f"field {self.name!r} is not UTF-8 text") from None


async def _form_parts(request: Request) -> list[Part]:
    """The form's parts, read by Starlette's parser (python-multipart) over a body `BodyLimit` has bounded."""
    if not (request.headers.get("content-type") or "").lower().startswith("multipart/form-data"):
        raise Invalid("send the photos as multipart/form-data (fields photos, note, feedback)")
    try:
        form = await request.form(max_files=MAX_PHOTOS + 1, max_fields=8, max_part_size=64 * 1024)
    except HTTPException as exc:  # Starlette's answer to a malformed body: say it in our words
        raise Invalid(f"the multipart/form-data body cannot be read: {exc.detail}") from None
    parts: list[Part] = []
    try:
        for name, value in form.multi_items():
            if isinstance(value, str):
                parts.append(Part(name, None, value.encode("utf-8")))
            else:
                parts.append(Part(name, value.filename or "", await value.read()))
    finally:
        await form.close()
    return parts


def _photos_and_fields(parts: list[Part]) -> tuple[list[Photo], str | None, bool]:
    files = [p for p in parts if p.filename is not None or p.name == "photos"]
    photos = [_as_photo(p) for p in files if p.data]  # an empty file input sends an empty part
    fields = {p.name: p.text().strip() for p in parts if p not in files}
    unknown = set(fields) - {"note", "feedback"}
    if unknown:
        raise Invalid(f"unknown form field {sorted(unknown)[0]!r}: send photos, note and feedback")
    note = fields.get("note") or None
    if note is not None and len(note) > MAX_NOTE:
        raise Invalid(f"the note has {len(note)} characters: at most {MAX_NOTE}")
    flag = fields.get("feedback", "false").lower()
    if flag not in ("true", "false", "1", "0", "on", ""):
        raise Invalid("feedback: true or false")
    return photos, note, flag in ("true", "1", "on")


def _as_photo(part: Part) -> Photo:
    if part.name != "photos":
        raise Invalid(f"a file came as {part.name!r}: send the photos as 'photos'")
    return Photo(part.filename or "", part.data)


def _check_photos(photos: list[Photo]) -> list[CleanPhoto]:
    if not photos:
        raise Invalid("add at least one photo (field 'photos')")
    if len(photos) > MAX_PHOTOS:
        raise Invalid(f"{len(photos)} photos: at most {MAX_PHOTOS} in one report")
    try:
        return [clean_photo(i, p) for i, p in enumerate(photos, 1)]
    except PhotoRejected as exc:
        raise HTTPException(exc.status, exc.message) from None


def _report(
    deps: ConsoleDeps, user: User, ref: str, photos: list[Photo], note: str | None, feedback: bool
) -> CaseDetail:
    actor = actor_of(user, deps)
    with deps.sessions() as s:
        case = visible_case(s, ref, actor)
        if case is None:
            raise HTTPException(404, f"no case {ref!r}")
        case_id, number, state = case.id, case.number, case.state
    if state not in OPEN:
        raise HTTPException(409, f"case {number} is {state}: photos go with an open case")
    clean = _check_photos(photos)
    who = case_actor(user, deps)
    actor_id = who.id if isinstance(who, Actor) else who
    transition_id = None
    if feedback:
        deps.actions.case_action(case_id, "feedback", who, note)
        with deps.sessions() as s:
            transition_id = s.scalar(
                select(CaseTransitionRow.id)
                .where(CaseTransitionRow.case_id == case_id, CaseTransitionRow.action == "feedback")
                .order_by(CaseTransitionRow.id.desc())
                .limit(1)
            )
    _store(deps, user, case_id, actor_id, transition_id, clean, note)
    return _detail(deps, case_id, actor)


def _store(
    deps: ConsoleDeps, user: User, case_id: str, actor_id: str, transition_id: int | None,
    clean: list[CleanPhoto], note: str | None,
) -> None:  # fmt: skip
    files = EvidenceFiles(deps.data_dir)
    now = deps.clock()
    written: list[str] = []
    try:
        with deps.sessions.begin() as s:
            for photo in clean:
                evidence_id = str(uuid.uuid4())
                rel = files.save(evidence_id, photo.jpeg, now.astimezone(deps.tz))
                written.append(rel)
                s.add(
                    EvidenceRow(
                        id=evidence_id, case_id=case_id, transition_id=transition_id, actor=actor_id,
                        username=user.username, ts=now, path=rel, sha256=photo.sha256, size=len(photo.jpeg),
                        width=photo.width, height=photo.height, note=note,
                    )
                )  # fmt: skip
    except Exception:
        for rel in written:  # no file without its row
            files.remove(rel)
        raise


@router.post(
    "/cases/{ref}/evidence",
    response_model=CaseDetail,
    status_code=201,
    responses={**ERRORS, 409: {"model": ErrorOut}, 413: {"model": ErrorOut}, 415: {"model": ErrorOut}},
)
async def upload_evidence(ref: str, request: Request, deps: Deps, user: FieldOrStaff) -> CaseDetail:
    """Photos of the work done (multipart/form-data: `photos`, one to six JPEG/PNG/WebP of at most 10 MB
    each; `note`; `feedback=true` to report the case handled with them). Photos are re-encoded to JPEG
    without EXIF (no GPS position leaves the phone in them). Answers the case as `GET /api/cases/{ref}`."""
    require_actor(user)
    photos, note, feedback = _photos_and_fields(await _form_parts(request))
    detail: CaseDetail = await run_in_threadpool(_report, deps, user, ref, photos, note, feedback)
    return detail


@router.get(
    "/evidence/{evidence_id}",
    response_class=FileResponse,
    responses={**ERRORS, 200: {"content": {"image/jpeg": {}}, "description": "the photo (JPEG)"}},
)
def evidence_photo(evidence_id: str, deps: Deps, user: FieldOrStaff) -> FileResponse:
    """A case's evidence photo, to those who may see the case (404 to anyone else)."""
    actor = actor_of(user, deps)
    with deps.sessions() as s:
        row = s.get(EvidenceRow, evidence_id) if len(evidence_id) <= 36 else None
        case = s.get(CaseRow, row.case_id) if row is not None else None
        visible = case is not None and (actor is None or bool(actor.roles_on(case)))
        rel = row.path if row is not None else ""
    path = EvidenceFiles(deps.data_dir).file(rel) if visible else None
    if path is None:
        raise HTTPException(404, f"no evidence {evidence_id!r}")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})
