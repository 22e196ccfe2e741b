"""Liveness, readiness and Prometheus metrics; none of them needs a key."""
from __future__ import annotations

import time

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import func, select, text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem_response
from api.openapi import problems
from core.db import get_sessionmaker
from core.queue import get_celery
from core.storage import get_store
from core.tables import Job

router = APIRouter(tags=["health"])

REQUESTS = Counter("defectgen_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("defectgen_http_request_seconds", "HTTP request latency", ["method", "route"])


def _jobs_gauge() -> GaugeMetricFamily:
    return GaugeMetricFamily("defectgen_jobs", "Jobs by kind and status", labels=["kind", "status"])


class JobCollector(Collector):
    """Counts jobs at scrape time, so every API replica reports the database's truth."""

    def describe(self):  # type: ignore[no-untyped-def]
        return [_jobs_gauge()]  # lets the registry register us without querying the database

    def collect(self):  # type: ignore[no-untyped-def]
        gauge = _jobs_gauge()
        with get_sessionmaker()() as session:
            rows = session.execute(select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status))
            for kind, status, count in rows:
                gauge.add_metric([kind, status], count)
        yield gauge


REGISTRY.register(JobCollector())


class RequestMetrics:
    """Counts requests and their latency by route template (pure ASGI: no per-request task overhead)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            LATENCY.labels(scope["method"], path).observe(time.perf_counter() - started)
            REQUESTS.labels(scope["method"], path, str(status)).inc()


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive (no key needed)."""
    return {"status": "ok"}


def _check_database() -> None:
    with get_sessionmaker()() as session:
        session.execute(text("SELECT 1"))


def _check_broker() -> None:
    with get_celery().connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=3)


@router.get("/readyz", responses={200: {"content": {"application/json": {"schema": {
    "type": "object", "properties": {"status": {"const": "ready"}}, "required": ["status"]}}}},
    **problems((503, "A dependency is unreachable: `errors` names each (database, object_store, broker)."))})
def readyz() -> Response:
    """The database, object store and broker are reachable (no key needed)."""
    checks = {"database": _check_database, "object_store": lambda: get_store().ping(), "broker": _check_broker}
    failures = []
    for name, check in checks.items():
        try:
            check()
        except Exception as exc:
            failures.append({"loc": [name], "msg": f"{type(exc).__name__}: {exc}"})
    if failures:
        return problem_response(503, "Service Unavailable", "some dependencies are unreachable", failures)
    return Response('{"status":"ready"}', media_type="application/json")


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition."}})
def metrics() -> Response:
    """Request, latency and job metrics for Prometheus (no key needed)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
