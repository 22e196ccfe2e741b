"""FastAPI dependencies, used as Annotated aliases in the routers."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.errors import Problem
from core.db import get_sessionmaker, session_scope
from core.keys import KeyRejected, authenticate
from core.settings import Settings, get_settings
from core.storage import ObjectStore, get_store


def get_session() -> Iterator[Session]:
    with get_sessionmaker()() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]

_bearer = HTTPBearer(auto_error=False, description="An API key from `defectgen keys create`.")


# The dashboard's session: the API key in an HttpOnly, SameSite=Strict cookie (api/dashboard/session.py).
SESSION_COOKIE = "defectgen_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def workspace_of_key(key: str, challenge: dict[str, str] | None = None) -> str:
    try:
        with session_scope() as session:  # its own session: the connection goes back before the endpoint runs
            return authenticate(session, key)
    except KeyRejected as exc:
        raise Problem(401, str(exc), headers=challenge) from None


def require_same_origin(request: Request) -> None:
    """A cookie rides along with any request the browser sends, so a state-changing one must come from a page of
    this server: its Origin (else Referer) names the host it was sent to. SameSite=Strict already keeps the
    cookie off cross-site requests; this also refuses sibling subdomains and browsers without SameSite."""
    if request.method in SAFE_METHODS:
        return
    source = request.headers.get("origin") or request.headers.get("referer") or ""
    if source == "null" or urlsplit(source).netloc.lower() != request.headers.get("host", "").lower():
        raise Problem(403, "a request signed in by the dashboard's cookie must come from the dashboard's own pages "
                           "(its Origin or Referer header names another site, or none)")


def current_workspace(request: Request,
                      credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """The Bearer key's workspace, or else the dashboard session cookie's (not in the OpenAPI document, which
    describes the REST API for programs: a browser is signed in by the dashboard)."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is not None:
        return workspace_of_key(credentials.credentials, challenge)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        raise Problem(401, "an API key is required: Authorization: Bearer <api-key>", headers=challenge)
    require_same_origin(request)
    return workspace_of_key(cookie, challenge)


WorkspaceDep = Annotated[str, Depends(current_workspace)]
LimitQuery = Annotated[int, Query(ge=1, le=500, description="Page size.")]
CursorQuery = Annotated[str | None, Query(description="The next_cursor of the previous page.")]
