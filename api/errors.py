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
# An answer quotes at most this much of what it refuses: a 20 MB id must not come back in it.
MAX_DETAIL_CHARS = 500
MAX_MSG_CHARS = 300
MAX_LOC_PART_CHARS = 256  # room for an archive path in an upload's errors
MAX_LOC_PARTS = 20
MAX_ERRORS = 100
# Errors pydantic reports at a union rather than at the field whose value picks its member: a job's `kind`, a
# train job's `architecture` (core/kinds/train.py's discriminator reports unknown_architecture).
TAG_FIELDS = {"union_tag_invalid": None, "union_tag_not_found": None, "unknown_architecture": "architecture"}


class Problem(Exception):
    def __init__(self, status: int, detail: str, *, title: str | None = None, errors: list[dict] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers
        self.title = title or HTTPStatus(status).phrase


def not_found(what: str, id_: str) -> Problem:
    return Problem(404, f"{what} {excerpt(id_, MAX_LOC_PART_CHARS)!r} does not exist in this workspace")


def invalid(loc: list[str | int], msg: str) -> Problem:
    return Problem(422, msg, title="Invalid request", errors=[{"loc": loc, "msg": msg}])


def excerpt(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def _bounded_error(error: dict) -> dict:
    def short(value: Any) -> Any:
        if isinstance(value, str):
            return excerpt(value, MAX_MSG_CHARS)
        if isinstance(value, list | tuple) and len(value) <= MAX_LOC_PARTS:
            return [excerpt(part, MAX_LOC_PART_CHARS) if isinstance(part, str) else short(part) for part in value]
        if isinstance(value, dict) and len(value) <= MAX_LOC_PARTS:
            return {key: short(item) for key, item in value.items()}
        if isinstance(value, int | float | bool) or value is None:
            return value
        return excerpt(repr(value), MAX_MSG_CHARS)

    return {key: short(value) for key, value in error.items()}


def problem_response(status: int, title: str, detail: str, errors: list[dict] | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    detail = excerpt(detail, MAX_DETAIL_CHARS)
    if errors is not None and len(errors) > MAX_ERRORS:
        detail += f" (errors lists the first {MAX_ERRORS} of {len(errors)})"
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = [_bounded_error(error) for error in errors[:MAX_ERRORS]]
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
        errors = [{"loc": field_location(err), "msg": err["msg"]} for err in exc.errors()]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return problem_response(422, "Invalid request", detail, errors)


def field_location(error: dict[str, Any]) -> list[str | int]:
    """The field's path, without the union tags pydantic inserts: ["body", "train", "params", "cdcgan", "z_dim"]
    is ["body", "params", "z_dim"], the same shape a resolve step's error has. A tag that picks no member is the
    tag's field: ["body", "kind"], ["body", "params", "architecture"]."""
    parts = list(error["loc"])
    if parts[:1] == ["body"] and len(parts) > 2 and parts[1] in kind_names() and parts[2] in ("kind", "params"):
        del parts[1]
        if parts[1] == "params" and len(parts) > 2 and parts[2] in architecture_names():
            del parts[2]
    if error["type"] in TAG_FIELDS and isinstance(error.get("input"), dict):
        parts.append(TAG_FIELDS[error["type"]] or str(error["ctx"]["discriminator"]).strip("'"))
    return parts
