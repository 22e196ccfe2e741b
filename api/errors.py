"""Errors as application/problem+json (RFC 9457)."""
from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import InvalidParam
from core.kinds import kind_names
from models.architectures import architecture_names

PROBLEM = "application/problem+json"


class Problem(Exception):
    def __init__(self, status: int, detail: str, *, title: str | None = None, errors: list[dict] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers
        self.title = title or HTTPStatus(status).phrase


def not_found(what: str, id_: str) -> Problem:
    return Problem(404, f"{what} {id_!r} does not exist in this workspace")


def invalid(loc: list[str | int], msg: str) -> Problem:
    return Problem(422, msg, title="Invalid request", errors=[{"loc": loc, "msg": msg}])


def problem_response(status: int, title: str, detail: str, errors: list[dict] | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, HTTPStatus(exc.status_code).phrase, str(exc.detail),
                                headers=getattr(exc, "headers", None))

    @app.exception_handler(InvalidParam)
    async def _invalid_param(_: Request, exc: InvalidParam) -> JSONResponse:
        loc = ["body", "params", *exc.loc]
        return problem_response(422, "Invalid request", exc.msg, [{"loc": loc, "msg": exc.msg}])

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": field_location(err["loc"]), "msg": err["msg"]} for err in exc.errors()]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return problem_response(422, "Invalid request", detail, errors)


def field_location(loc: tuple[str | int, ...]) -> list[str | int]:
    """The field's path, without the union tags pydantic inserts: ["body", "train", "params", "cdcgan", "z_dim"]
    is ["body", "params", "z_dim"], the same shape a resolve step's error has."""
    parts = list(loc)
    if parts[:1] == ["body"] and len(parts) > 2 and parts[1] in kind_names() and parts[2] in ("kind", "params"):
        del parts[1]
        if parts[1] == "params" and len(parts) > 2 and parts[2] in architecture_names():
            del parts[2]
    return parts
