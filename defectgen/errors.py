"""What the client raises: every failure is a DefectgenError whose str() is one line."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from defectgen.schemas import Job


class DefectgenError(Exception):
    """A request the server refused (status, title, detail and errors[] of its problem+json body), or one that
    never got an answer (status None)."""

    def __init__(self, message: str, *, status: int | None = None, title: str | None = None,
                 detail: str | None = None, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(" ".join(message.split()))  # one line, whatever the server's detail holds
        self.status, self.title, self.detail, self.errors = status, title, detail, errors or []

    @classmethod
    def from_response(cls, response: httpx.Response) -> DefectgenError:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {"detail": response.text[:300]}
        title = body.get("title") or response.reason_phrase
        detail = body.get("detail") or ""
        errors = body.get("errors") if isinstance(body.get("errors"), list) else []
        message = f"{response.status_code} {title}" + (f": {detail}" if detail else "")
        return cls(message, status=response.status_code, title=title, detail=detail, errors=errors)


class ServerUnavailable(DefectgenError):
    """Nothing answered at the client's URL (connection refused, unknown host, connect timeout)."""


class JobFailed(DefectgenError):
    """Client.wait(check=True) saw the job end failed or cancelled."""

    def __init__(self, job: Job) -> None:
        error = job.error or {}
        reason = f": {error.get('code', 'error')}: {error.get('message', '')}" if job.error else ""
        super().__init__(f"job {job.id} ended {job.status}{reason}")
        self.job = job


class WaitTimeout(DefectgenError, TimeoutError):
    """Client.wait's timeout passed before the job ended."""

    def __init__(self, job: Job, timeout: float) -> None:
        super().__init__(f"job {job.id} is still {job.status} after {timeout:g} s")
        self.job = job
