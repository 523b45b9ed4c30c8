"""Who is asking: a bearer token (the API) or the session cookie (the page); role checks.

Every route but `/healthz`, the login page and endpoint and the static files depends on `current_user`; every
action also on `require(role, ...)`. Field staff (grid_worker) are refused by `current_user`: only the routes
that scope what they show (console/scope.py) take `signed_in` instead, so a new route is closed to them unless
it says otherwise. A request signed in by cookie that changes something must come from the
console's own origin (`http_security.SameOriginWrites`, before any route; the cookie is SameSite=Lax too).
Failed logins are throttled by `login_limit.LoginLimiter`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from sentinel.console.deps import ConsoleDeps
from sentinel.console.http_security import SAFE_METHODS, SESSION_COOKIE
from sentinel.console.login_limit import LoginLimiter
from sentinel.console.tokens import TokenRefused
from sentinel.console.users import User

__all__ = [
    "SAFE_METHODS", "SESSION_COOKIE", "LoginLimiter", "current_user", "require", "signed_in", "user_from_request",
]  # fmt: skip


def get_deps(request: Request) -> ConsoleDeps:
    deps: ConsoleDeps = request.app.state.deps
    return deps


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def user_from_request(request: Request, deps: ConsoleDeps) -> User | None:
    """The signed-in user, or None; raises 401, saying why, for a bearer token that is wrong, expired or
    revoked (a password change and deactivation revoke a user's tokens)."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("use 'Authorization: Bearer <token>' (sentinel users token)")
        try:
            return deps.users.token_user(token.strip())
        except TokenRefused as refused:
            raise _unauthorized(refused.describe(deps.tz)) from None
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    return deps.users.user_for_session(cookie)


def signed_in(request: Request, deps: Annotated[ConsoleDeps, Depends(get_deps)]) -> User:
    """Any signed-in user, field staff too: for routes that scope what they show (console/scope.py)."""
    user = user_from_request(request, deps)
    if user is None:
        raise _unauthorized("login required")
    request.state.user = user
    return user


def current_user(user: Annotated[User, Depends(signed_in)]) -> User:
    """A signed-in monitoring-room user (operator, technician, admin); field staff get 403."""
    if user.field:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"this is for the monitoring room (you are {user.role}): grid workers use the phone page /m/",
        )
    return user


def require(*roles: str) -> Callable[..., User]:
    """A dependency that lets through users holding one of `roles` (admins hold all)."""
    wanted = " or ".join(roles)

    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if not user.may(*roles):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this needs the {wanted} role (you are {user.role})"
            )
        return user

    return check
