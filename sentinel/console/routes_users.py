"""`/api/auth` (login, logout, who am I) and `/api/users` (admins: users, roles, passwords, API tokens)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool

from sentinel.console.auth import SESSION_COOKIE, client_ip, get_deps, require, signed_in
from sentinel.console.deps import ConsoleDeps
from sentinel.console.login_limit import LoginLimiter
from sentinel.console.schemas import (
    ErrorOut,
    LoginIn,
    PasswordChangeIn,
    TokenCreated,
    TokenIn,
    TokenOut,
    UserCreateIn,
    UserOut,
    UserUpdateIn,
)
from sentinel.console.tokens import TokenInfo
from sentinel.console.users import SESSION_MAX, User, check_roster_id

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["users"])
Deps = Annotated[ConsoleDeps, Depends(get_deps)]
AnyUser = Annotated[User, Depends(signed_in)]  # field staff too: their own password, who am I
Admin = Annotated[User, Depends(require("admin"))]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut},
    403: {"model": ErrorOut},
    404: {"model": ErrorOut},
}


def user_out(user: User) -> UserOut:
    return UserOut(
        username=user.username, display_name=user.display_name, role=user.role, active=user.active,
        roster_id=user.roster_id,
    )  # fmt: skip


def _when(value: datetime | None, deps: ConsoleDeps) -> str | None:
    return value.astimezone(deps.tz).isoformat(timespec="seconds") if value else None


def token_out(t: TokenInfo, deps: ConsoleDeps) -> TokenOut:
    return TokenOut(
        id=t.id, username=t.username, name=t.name, prefix=t.prefix, created_at=_when(t.created_at, deps) or "",
        expires_at=_when(t.expires_at, deps) or "", last_used_at=_when(t.last_used_at, deps), revoked=t.revoked,
        revoked_reason=t.revoked_reason, expired=t.expired, state=t.state,
    )  # fmt: skip


def secure_request(request: Request, deps: ConsoleDeps) -> bool:
    """Whether the session cookie is marked Secure: configured so, or the request came over https (directly,
    or through a trusted proxy's X-Forwarded-Proto, which `forwarded.py` turned into the request's scheme)."""
    return deps.secure_cookies or request.url.scheme == "https"


@router.post(
    "/auth/login", response_model=UserOut, responses={401: {"model": ErrorOut}, 429: {"model": ErrorOut}}
)
async def login(body: LoginIn, request: Request, response: Response, deps: Deps) -> UserOut:
    """Sign in with user name and password; sets the session cookie the page uses."""
    limiter: LoginLimiter = request.app.state.login_limiter
    ip = client_ip(request)
    await _refuse_if_throttled(limiter, ip, body.username)
    user = await run_in_threadpool(deps.users.authenticate, body.username, body.password)
    if user is None:
        await run_in_threadpool(limiter.failed, ip, body.username)
        deps.metrics.login_failures.inc()
        log.warning("failed login for %r from %s", body.username, ip)
        raise HTTPException(401, "wrong user name or password")
    await run_in_threadpool(limiter.succeeded, ip, body.username)
    await _new_session(user, request, response, deps)
    log.info("%s (%s) signed in from %s", user.username, user.role, ip)
    return user_out(user)


async def _new_session(user: User, request: Request, response: Response, deps: ConsoleDeps) -> None:
    cookie = await run_in_threadpool(
        deps.users.create_session, user, client_ip(request), request.headers.get("user-agent")
    )
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=int(SESSION_MAX.total_seconds()), httponly=True,
        samesite="lax", secure=secure_request(request, deps), path="/",
    )  # fmt: skip


async def _refuse_if_throttled(limiter: LoginLimiter, ip: str, username: str) -> None:
    wait = await run_in_threadpool(limiter.retry_after, ip, username)
    if wait is not None:
        log.warning("login for %r from %s refused: too many failures", username, ip)
        raise HTTPException(
            429, f"too many failed logins; try again in {int(wait) + 1} s",
            headers={"Retry-After": str(int(wait) + 1)},
        )  # fmt: skip


@router.post(
    "/auth/password", response_model=UserOut,
    responses={**ERRORS, 422: {"model": ErrorOut}, 429: {"model": ErrorOut}},
)  # fmt: skip
async def change_password(
    body: PasswordChangeIn, request: Request, response: Response, deps: Deps, user: AnyUser
) -> UserOut:
    """Change your own password. Every session and API token of yours ends; signed in by cookie, you get a
    new session cookie. A wrong current password counts as a failed login."""
    limiter: LoginLimiter = request.app.state.login_limiter
    ip = client_ip(request)
    await _refuse_if_throttled(limiter, ip, user.username)
    changed = await run_in_threadpool(
        deps.users.change_password, user.username, body.current_password, body.new_password
    )
    if not changed:
        await run_in_threadpool(limiter.failed, ip, user.username)
        log.warning("%s gave a wrong current password from %s", user.username, ip)
        raise HTTPException(403, "the current password is wrong")
    log.info("%s changed their password from %s; their sessions and API tokens ended", user.username, ip)
    if request.cookies.get(SESSION_COOKIE):
        await _new_session(user, request, response, deps)
    return user_out(user)


@router.post("/auth/logout", status_code=204, response_class=Response)
def logout(request: Request, deps: Deps) -> Response:
    """End the session (no error when there is none). Signed in by cookie, it must come from the console's own
    origin like every other write (`http_security.SameOriginWrites`)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        deps.users.end_session(cookie)
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure_request(request, deps)
    )
    return response


@router.get("/auth/me", response_model=UserOut, responses=ERRORS)
def me(user: AnyUser) -> UserOut:
    return user_out(user)


# ---------------------------------------------------------------- admins


@router.get("/users", response_model=list[UserOut], responses=ERRORS)
def list_users(deps: Deps, _admin: Admin) -> list[UserOut]:
    return [user_out(u) for u in deps.users.all()]


@router.post(
    "/users", response_model=UserOut, status_code=201, responses={**ERRORS, 409: {"model": ErrorOut}}
)
def create_user(body: UserCreateIn, deps: Deps, admin: Admin) -> UserOut:
    check_roster_id(body.role, body.roster_id, deps.roster)
    user = deps.users.add(
        body.username, body.password, body.role, body.display_name, roster_id=body.roster_id
    )
    log.info("%s added user %s (%s)", admin.username, user.username, user.role)
    return user_out(user)


@router.patch("/users/{username}", response_model=UserOut, responses=ERRORS)
def update_user(username: str, body: UserUpdateIn, deps: Deps, admin: Admin) -> UserOut:
    """Change a user's role, name, password, or deactivate them. A new password or deactivation ends the
    user's sessions and revokes their API tokens."""
    if username == admin.username and (body.active is False or (body.role and body.role != "admin")):
        raise HTTPException(409, "you cannot deactivate or demote yourself (ask another admin)")
    before = deps.users.get(username)
    if before is not None and (body.role is not None or body.roster_id is not None):
        role = body.role or before.role
        roster_id = body.roster_id if body.roster_id is not None else before.roster_id
        check_roster_id(role, roster_id if role == "grid_worker" else body.roster_id, deps.roster)
    if body.password is not None:
        deps.users.set_password(username, body.password)
    user = deps.users.update(
        username, role=body.role, active=body.active, display_name=body.display_name, roster_id=body.roster_id
    )
    log.info("%s updated user %s", admin.username, username)
    return user_out(user)


@router.get("/users/{username}/tokens", response_model=list[TokenOut], responses=ERRORS)
def list_tokens(username: str, deps: Deps, _admin: Admin) -> list[TokenOut]:
    if deps.users.get(username) is None:
        raise HTTPException(404, f"no user {username!r}")
    return [token_out(t, deps) for t in deps.users.tokens(username)]


@router.post("/users/{username}/tokens", response_model=TokenCreated, status_code=201, responses=ERRORS)
def create_token(username: str, body: TokenIn, deps: Deps, admin: Admin) -> TokenCreated:
    """A bearer token for the API (`Authorization: Bearer <token>`); the answer is the only time it shows. It
    expires after `expires_days`, at most (and by default) after `console.token_lifetime`."""
    expires = timedelta(days=body.expires_days) if body.expires_days else None
    token, info = deps.users.create_token(username, body.name, expires)
    log.info("%s created API token %d (%s) for %s", admin.username, info.id, info.name, username)
    return TokenCreated(token=token, info=token_out(info, deps))


@router.delete("/tokens/{token_id}", response_model=TokenOut, responses=ERRORS)
def revoke_token(token_id: int, deps: Deps, admin: Admin) -> TokenOut:
    info = deps.users.revoke_token(token_id, f"revoked by {admin.username}")
    log.info("%s revoked API token %d of %s", admin.username, token_id, info.username)
    return token_out(info, deps)
