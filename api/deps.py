"""FastAPI dependencies, used as Annotated aliases in the routers."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query
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


def current_workspace(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise Problem(401, "an API key is required: Authorization: Bearer <api-key>", headers=challenge)
    try:
        with session_scope() as session:  # its own session: the connection goes back before the endpoint runs
            return authenticate(session, credentials.credentials)
    except KeyRejected as exc:
        raise Problem(401, str(exc), headers=challenge) from None


WorkspaceDep = Annotated[str, Depends(current_workspace)]
LimitQuery = Annotated[int, Query(ge=1, le=500, description="Page size.")]
CursorQuery = Annotated[str | None, Query(description="The next_cursor of the previous page.")]
