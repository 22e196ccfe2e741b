"""JSON bodies must come as JSON. `curl -d` sends application/x-www-form-urlencoded, which FastAPI would answer
with a 422 about the body's type that does not say why; this names the missing header."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.errors import Problem


async def require_json(request: Request) -> None:
    if not await request.body():
        return  # nothing to parse: the body's own validation says what is missing
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return
    sent = f"it was sent as {media_type}" if media_type else "it was sent without a Content-Type"
    raise Problem(415, f"the request body must be JSON with the header Content-Type: application/json ({sent}; "
                       "with curl, add -H 'Content-Type: application/json' or use --json)")


JsonBody = Annotated[None, Depends(require_json)]
