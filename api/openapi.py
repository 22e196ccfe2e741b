"""What /openapi.json says beyond what FastAPI infers: every problem a route can answer, each as
application/problem+json with one shared `Problem` schema, and the links from a created resource to the routes
that use its id (for clients and for stateful testing)."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from api.errors import PROBLEM

SCHEMAS = "#/components/schemas/"
NON_EMPTY = {"minLength": 1}  # json_schema_extra of an upload's file: every upload route refuses an empty one


class ProblemError(BaseModel):
    loc: list[str | int] = Field(description='Where: e.g. ["body", "params", "resolution"], ["path", "job_id"], '
                                             '["file", "<archive path>"].')
    msg: str
    type: str | None = None


class Problem(BaseModel):
    """An error (RFC 9457); `errors` names each bad field or file of a refused request."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = None


WHY = {
    400: "The multipart body, or the uploaded archive or an image in it, cannot be read.",
    401: "No API key, or an unknown, expired or revoked one (`WWW-Authenticate: Bearer`).",
    404: "No such resource in this workspace (another workspace's ids are 404 too).",
    409: "A queued or running job uses the resource.",
    413: "The request body is over its limit (max_json_bytes, max_upload_bytes), or the workspace's stored bytes "
         "would exceed workspace_max_stored_bytes.",
    415: "The body's type is not the one this route reads.",
    422: "The request is invalid: `errors` names each bad field (loc) and why (msg).",
    429: "The workspace has workspace_max_active_jobs queued or running jobs.",
    501: "The object store cannot sign direct URLs.",
    503: "The job queue is unreachable; nothing was stored.",
}


def problems(*codes: int | tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status with its reason (WHY's, or the one given as (status, reason))."""
    declared: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        status, why = code if isinstance(code, tuple) else (code, WHY[code])
        declared[status] = {"description": why, "content": {PROBLEM: {"schema": {"$ref": f"{SCHEMAS}Problem"}}}}
    return declared


def link(operation_id: str, description: str, body: dict[str, Any] | None = None,
         **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to `operation_id`, its parameters (and body fields) taken from this response."""
    found: dict[str, Any] = {"operationId": operation_id, "description": description}
    if parameters:
        found["parameters"] = parameters
    if body is not None:
        found["requestBody"] = body
    return found


def install(app: FastAPI) -> None:
    """Adds the Problem schema to the document FastAPI builds (the routes refer to it by $ref), once."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if "Problem" not in schemas:
            problem = Problem.model_json_schema(ref_template=SCHEMAS + "{model}")
            schemas.update(problem.pop("$defs"))
            schemas["Problem"] = problem
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def operation_ids(route: Any) -> str:
    """Operation ids are the endpoint functions' names (read_dataset, create_job), which links refer to."""
    return route.name
