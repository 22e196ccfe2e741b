"""Webhooks: a workspace's receivers of job outcomes, and the record of what was sent to them."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.deps import CursorQuery, LimitQuery, SessionDep, SettingsDep, WorkspaceDep
from api.errors import Problem, invalid
from api.json_body import JsonBody
from api.openapi import link, problems
from api.paths import IdPath
from api.schemas.common import Page
from api.schemas.webhooks import DeliveryOut, WebhookCreate, WebhookCreated, WebhookOut
from api.workspace_rows import owned, page
from core import webhooks
from core.ids import new_id
from core.tables import Webhook, WebhookDelivery

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=problems(401, 422))
WEBHOOK_ID = {"webhook_id": "$response.body#/id"}
WEBHOOK_LINKS = {
    "GetWebhook": link("read_webhook", "The webhook.", **WEBHOOK_ID),
    "DeleteWebhook": link("delete_webhook", "Remove the webhook.", **WEBHOOK_ID),
    "GetDeliveries": link("list_deliveries", "What was sent to it.", **WEBHOOK_ID),
    "TestWebhook": link("test_webhook", "Send it a test event.", **WEBHOOK_ID),
}
MAX_WEBHOOKS_PER_WORKSPACE = 20  # each job outcome writes one delivery per webhook
DeliveryStatus = Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")]


def get_webhook(session: Session, workspace: str, webhook_id: str) -> Webhook:
    return owned(session, Webhook, workspace, webhook_id, "webhook")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated,
             responses={201: {"description": "The webhook, with its signing secret.", "links": WEBHOOK_LINKS},
                        **problems((400, "The body cannot be decoded as JSON text (e.g. it is not UTF-8)."),
                                   (409, "The workspace has the most webhooks it may have."), 413,
                                   (415, "The body is not sent as `Content-Type: application/json`."),
                                   (422, "The body is invalid, or its url is refused (not http(s), or a private "
                                         "address): `errors` names it."))})
def create_webhook(body: Annotated[WebhookCreate, Body()], workspace: WorkspaceDep, _json: JsonBody,
                   session: SessionDep, settings: SettingsDep) -> Webhook:
    """Register a receiver of job outcomes (201). The answer carries the signing secret, once."""
    try:
        webhooks.check_url(body.url, settings.webhook_allow_private_networks)
    except webhooks.UrlRefused as exc:
        raise invalid(["body", "url"], str(exc)) from None
    count = session.scalar(select(func.count()).select_from(Webhook).where(Webhook.workspace_id == workspace))
    if count >= MAX_WEBHOOKS_PER_WORKSPACE:
        raise Problem(409, f"the workspace has {count} webhooks, the most it may have; delete one first")
    hook = Webhook(id=new_id("wh"), workspace_id=workspace, url=body.url, event_types=list(dict.fromkeys(
        body.event_types)), secret=webhooks.new_secret())
    session.add(hook)
    session.commit()
    return hook


@router.get("", response_model=Page[WebhookOut])
def list_webhooks(workspace: WorkspaceDep, session: SessionDep, limit: LimitQuery = 50,
                  cursor: CursorQuery = None) -> dict:
    """The workspace's webhooks, newest first."""
    return page(session, Webhook, workspace, limit, cursor)


@router.get("/{webhook_id}", response_model=WebhookOut, responses=problems(404))
def read_webhook(webhook_id: IdPath, workspace: WorkspaceDep, session: SessionDep) -> Webhook:
    """One webhook: its URL and the event types it receives."""
    return get_webhook(session, workspace, webhook_id)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT, responses=problems(404))
def delete_webhook(webhook_id: IdPath, workspace: WorkspaceDep, session: SessionDep) -> None:
    """Remove a webhook; its deliveries, sent or not, go with it."""
    session.delete(get_webhook(session, workspace, webhook_id))
    session.commit()  # the database cascades to webhook_deliveries


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryOut], responses=problems(404))
def list_deliveries(webhook_id: IdPath, workspace: WorkspaceDep, session: SessionDep, limit: LimitQuery = 50,
                    cursor: CursorQuery = None, status: DeliveryStatus = None) -> dict:
    """The webhook's deliveries, newest first, with their attempts and the receiver's latest answer."""
    get_webhook(session, workspace, webhook_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if status:
        stmt = stmt.where(WebhookDelivery.status == status)
    if cursor:
        stmt = stmt.where(WebhookDelivery.id < cursor)
    rows = list(session.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return {"items": rows[:limit], "next_cursor": next_cursor}


@router.post("/{webhook_id}/test", status_code=status.HTTP_202_ACCEPTED, response_model=DeliveryOut,
             responses=problems(404))
def test_webhook(webhook_id: IdPath, workspace: WorkspaceDep, session: SessionDep) -> WebhookDelivery:
    """Queue a `webhook.test` event for this webhook (202): a worker sends it like any other."""
    hook = get_webhook(session, workspace, webhook_id)
    delivery = webhooks.queue_delivery(session, hook, webhooks.TEST_EVENT, {"webhook_id": hook.id})
    session.commit()
    return delivery
