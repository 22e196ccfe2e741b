"""Pages from the package's Jinja2 templates, with the signed-in workspace's name in their header."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from core.db import session_scope
from core.tables import Workspace

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["tojson_compact"] = lambda value: json.dumps(value, separators=(", ", ": "), default=str)


def workspace_name(workspace_id: str) -> str:
    with session_scope() as session:
        row = session.get(Workspace, workspace_id)
        return row.name if row else workspace_id


def render(request: Request, template: str, workspace: str | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    name = workspace_name(workspace) if workspace else None
    return templates.TemplateResponse(request, template, {"workspace": name, **context}, status_code=status_code)
