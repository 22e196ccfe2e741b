"""Bodies of /v1/webhooks."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Out
from core.webhooks import EVENT_TYPES

EventType = Literal["job.succeeded", "job.failed", "job.cancelled"]
assert set(EventType.__args__) == set(EVENT_TYPES)  # type: ignore[attr-defined]
URL_MAX_LENGTH = 2048


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=URL_MAX_LENGTH, pattern="^https?://", description=(
        "An http or https URL. Loopback and private addresses only with DEFECTGEN_WEBHOOK_ALLOW_PRIVATE_NETWORKS; "
        "link-local and metadata addresses never."))
    event_types: list[EventType] = Field(default=list(EVENT_TYPES), min_length=1, max_length=len(EVENT_TYPES),
                                         description="The events to send; all job outcomes if left out.")


class WebhookOut(Out):
    id: str
    url: str
    event_types: list[str]
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret (whsec_…, Standard Webhooks); shown only in this answer.")


class DeliveryOut(Out):
    id: str = Field(description="The webhook-id header of every attempt: the same across retries.")
    event_type: str
    job_id: str | None
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None = Field(description="The receiver's answer to the latest attempt; null when it "
                                                     "gave none (refused, timed out, unreachable).")
    last_error: str | None
    next_attempt_at: datetime = Field(description="For a pending delivery, when it is tried next.")
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="The body sent: {type, timestamp, data}.")
