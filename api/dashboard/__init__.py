"""The web dashboard: server-rendered pages at `/` and under `/ui/`, a stylesheet and one hand-written script
served from this package (no CDN, no build step), signed in by an API key kept in a cookie."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from api.dashboard import pages, session
from api.dashboard.render import HERE, render
from api.errors import Problem

STATIC = "/ui/static"


def _is_page(request: Request) -> bool:
    return request.url.path == "/" or request.url.path.startswith("/ui/")


def install(app: FastAPI) -> None:
    """The dashboard's routes (none in the OpenAPI document), its static files, and HTML pages for the problems
    its pages meet (a 404 for another workspace's id); the API's routes keep answering problem+json."""
    app.include_router(session.router)
    app.include_router(pages.router)
    app.mount(STATIC, StaticFiles(directory=HERE / "static"), name="dashboard-static")
    api_problem = app.exception_handlers[Problem]

    async def problem(request: Request, exc: Exception) -> Response:
        if not _is_page(request) or not isinstance(exc, Problem):
            return await api_problem(request, exc)
        return render(request, "problem.html", None, status_code=exc.status, problem=exc)

    app.add_exception_handler(Problem, problem)
    app.add_exception_handler(session.SignInRequired, session.sign_in_redirect)
