"""The FastAPI application: `uvicorn api.main:app`."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Receive, Scope, Send

from api import dashboard, errors, health, openapi
from api.routers import backbones, batches, datasets, jobs, models, reports, webhooks
from core.db import session_scope
from core.keys import add_key
from core.orphans import retention, sweep_store
from core.settings import get_settings
from core.storage import get_store

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    with session_scope() as session:
        if settings.bootstrap_api_key and add_key(session, "default", settings.bootstrap_api_key.get_secret_value()):
            log.info("registered the bootstrap API key for workspace 'default'")
        # An API that died mid-upload left objects behind: sweep at once rather than at the workers' next pass.
        sweep_store(session, get_store(), retention(settings))
    yield


class UploadLimit:
    """Refuses request bodies over their limit while they stream in, before they reach the disk or a parser:
    max_upload_bytes for multipart uploads, max_json_bytes for any other body (FastAPI parses a body without
    a content type as JSON too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        settings = get_settings()
        if dict(scope["headers"]).get(b"content-type", b"").lower().startswith(b"multipart/"):
            limit, what = settings.max_upload_bytes, "upload"
        else:
            limit, what = settings.max_json_bytes, "request body"
        detail = f"the {what} is larger than the limit of {limit} bytes"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = errors.problem_response(413, "Content Too Large", detail)
            return await response(scope, receive, send)
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                # An HTTPException passes through FastAPI's body parsing, which turns other errors into 400.
                raise HTTPException(413, detail)
            return message

        await self.app(scope, counted, send)


class AdmissionLimit:
    """At most `api_max_concurrency` requests use the database at once; the rest wait in the event loop.

    A sync endpoint's session holds a pooled connection between its thread-pool hops (dependencies, the
    endpoint, response validation). Unbounded, 100 pollers left every worker thread waiting for a connection
    held by a request that was waiting for a thread: 2 requests/s. Waiting here costs neither.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.slots = asyncio.Semaphore(get_settings().api_max_concurrency)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in ("/healthz", "/metrics"):
            return await self.app(scope, receive, send)
        async with self.slots:
            await self.app(scope, receive, send)


def create_app() -> FastAPI:
    app = FastAPIOffline(
        title="defectgen",
        version="1.0.0",
        summary="GAN-generated, labelled training images for small defect datasets.",
        lifespan=lifespan,
        generate_unique_id_function=openapi.operation_ids,
    )
    errors.install(app)
    openapi.install(app)
    app.add_middleware(AdmissionLimit)
    app.add_middleware(health.RequestMetrics)
    app.add_middleware(UploadLimit)
    for router in (health.router, datasets.router, jobs.router, models.router, batches.router,
                   backbones.router, reports.router, webhooks.router):
        app.include_router(router)
    dashboard.install(app)  # `/` and /ui/; Swagger UI and ReDoc stay at /docs and /redoc
    return app


app = create_app()
