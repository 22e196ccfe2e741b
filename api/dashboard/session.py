"""Signing in to the dashboard: the API key is checked like a Bearer key and kept in a cookie that scripts cannot
read (HttpOnly), that no other site's request carries (SameSite=Strict) and, over TLS, that travels only by TLS
(Secure). Each request looks the key up again, so a revoked key signs the browser out at once."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.dashboard.render import render
from api.deps import SESSION_COOKIE, require_same_origin
from core.db import session_scope
from core.keys import KeyRejected, authenticate

router = APIRouter(include_in_schema=False)
SIGN_IN = "/ui/sign-in"
COOKIE_DAYS = 30


class SignInRequired(Exception):
    """A dashboard page was asked for without a usable session; `rejected` when the cookie holds a bad key."""

    def __init__(self, next_path: str, rejected: str | None = None) -> None:
        super().__init__(next_path)
        self.next_path, self.rejected = next_path, rejected


def page_workspace(request: Request) -> str:
    """The signed-in workspace of a dashboard page, or else a redirect to the sign-in form."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    key = request.cookies.get(SESSION_COOKIE)
    if key is None:
        raise SignInRequired(here)
    try:
        with session_scope() as session:
            return authenticate(session, key)
    except KeyRejected as exc:
        raise SignInRequired(here, str(exc)) from None


PageWorkspace = Annotated[str, Depends(page_workspace)]


def sign_in_redirect(request: Request, exc: SignInRequired) -> Response:
    if exc.rejected:
        response = render(request, "sign_in.html", None, next_path=exc.next_path, error=exc.rejected, status_code=401)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    return RedirectResponse(f"{SIGN_IN}?next={_local(exc.next_path)}", status_code=303)


def _local(path: str | None) -> str:
    """Only a path on this server may be the page to go on to (no //host, no scheme)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def _secure(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


@router.get(SIGN_IN)
def sign_in_form(request: Request, next: str = "/") -> Response:
    return render(request, "sign_in.html", None, next_path=_local(next), error=None)


@router.post(SIGN_IN)
def sign_in(request: Request, api_key: Annotated[str, Form(max_length=500)] = "",
            next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    require_same_origin(request)  # else another site could sign a browser in to the other site's workspace
    try:
        with session_scope() as session:
            authenticate(session, api_key.strip())
    except KeyRejected as exc:
        return render(request, "sign_in.html", None, next_path=_local(next), error=str(exc), status_code=401)
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, api_key.strip(), max_age=COOKIE_DAYS * 86400, path="/", httponly=True,
                        samesite="strict", secure=_secure(request))
    return response


@router.post("/ui/sign-out")
def sign_out(request: Request) -> Response:
    require_same_origin(request)
    response = RedirectResponse(SIGN_IN, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request))
    return response
