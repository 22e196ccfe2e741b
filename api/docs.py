"""`GET /` leads to the API's documentation (Swagger UI and ReDoc, served from the fastapi-offline package, so
they work without internet) until the dashboard takes that place."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

router = APIRouter(include_in_schema=False)


@router.get("/")
def root(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/docs")
