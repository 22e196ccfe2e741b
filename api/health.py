"""Liveness, readiness and Prometheus metrics; none of them needs a key."""
from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import func, select, text

from api.errors import problem_response
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


async def record_request(request: Request, call_next):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    path = getattr(route, "path", "unmatched")
    LATENCY.labels(request.method, path).observe(time.perf_counter() - started)
    REQUESTS.labels(request.method, path, str(response.status_code)).inc()
    return response


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _check_database() -> None:
    with get_sessionmaker()() as session:
        session.execute(text("SELECT 1"))


def _check_broker() -> None:
    with get_celery().connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=3)


@router.get("/readyz", responses={503: {"description": "a dependency is unreachable"}})
def readyz() -> Response:
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


@router.get("/metrics", response_class=Response)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
