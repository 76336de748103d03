from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from vpsorg import inputs
from vpsorg.deps import AccountId, Session, get_state
from vpsorg.errors import AUTH_RESPONSES, NotFound, QuotaExceeded, ValidationFailed, errors
from vpsorg.http.pagination import page_params, paged
from vpsorg.pagination import Page, PageParams
from vpsorg.webhooks import service as webhooks
from vpsorg.webhooks import urls
from vpsorg.webhooks.models import Delivery, DeliveryStatus, Webhook
from vpsorg.webhooks.schemas import DeliveryOut, WebhookCreate, WebhookCreated, WebhookOut, WebhookPatch

router = APIRouter(
    prefix="/api/v1/webhooks", tags=["webhooks"], responses=AUTH_RESPONSES, route_class=inputs.LimitedRoute
)

Id = inputs.PathId


async def url_policy(request: Request) -> urls.Policy:
    """Which URLs may be called (VPSORG_WEBHOOKS_ALLOW_HTTP, VPSORG_WEBHOOKS_ALLOW_PRIVATE)."""
    s = get_state(request).settings
    return urls.Policy(allow_http=s.webhooks_allow_http, allow_private=s.webhooks_allow_private)


Policy = Annotated[urls.Policy, Depends(url_policy)]


def _out(webhook: Webhook) -> WebhookOut:
    return WebhookOut.model_validate(webhook, from_attributes=True)


def _delivery(d: Delivery) -> DeliveryOut:
    out = DeliveryOut.model_validate(d, from_attributes=True)
    return out if d.status == DeliveryStatus.PENDING else out.model_copy(update={"next_attempt_at": None})


@router.post(
    "/",
    status_code=201,
    summary="Create a webhook (its secret is in this answer only)",
    responses=errors(ValidationFailed, QuotaExceeded),
)
async def create_webhook(
    body: WebhookCreate,
    request: Request,
    response: Response,
    session: Session,
    account_id: AccountId,
    policy: Policy,
) -> WebhookCreated:
    webhook = await webhooks.create(session, account_id=account_id, data=body, policy=policy)
    response.headers["Location"] = str(request.url_for("get_webhook", webhook_id=webhook.id))
    return WebhookCreated.model_validate(webhook, from_attributes=True)


@router.get("/", summary="List your webhooks", responses=errors(ValidationFailed))
async def list_webhooks(
    request: Request,
    session: Session,
    account_id: AccountId,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[WebhookOut]:
    count, rows = await webhooks.list_webhooks(session, account_id=account_id, page=page)
    return paged(request, page, count, [_out(w) for w in rows])


@router.get("/{webhook_id}/", summary="Get a webhook", responses=errors(ValidationFailed, NotFound))
async def get_webhook(webhook_id: Id, session: Session, account_id: AccountId) -> WebhookOut:
    return _out(await webhooks.get(session, account_id=account_id, webhook_id=webhook_id))


@router.patch("/{webhook_id}/", summary="Change a webhook", responses=errors(ValidationFailed, NotFound))
async def update_webhook(
    webhook_id: Id, body: WebhookPatch, session: Session, account_id: AccountId, policy: Policy
) -> WebhookOut:
    return _out(
        await webhooks.update(session, account_id=account_id, webhook_id=webhook_id, data=body, policy=policy)
    )


@router.delete(
    "/{webhook_id}/",
    status_code=204,
    summary="Delete a webhook and its delivery log",
    responses=errors(ValidationFailed, NotFound),
)
async def delete_webhook(webhook_id: Id, session: Session, account_id: AccountId) -> Response:
    await webhooks.delete_webhook(session, account_id=account_id, webhook_id=webhook_id)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries/",
    summary="A webhook's deliveries, newest first",
    responses=errors(ValidationFailed, NotFound),
)
async def list_deliveries(
    webhook_id: Id,
    request: Request,
    session: Session,
    account_id: AccountId,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[DeliveryOut]:
    count, rows = await webhooks.list_deliveries(
        session, account_id=account_id, webhook_id=webhook_id, page=page
    )
    return paged(request, page, count, [_delivery(d) for d in rows])


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver/",
    status_code=202,
    summary="Send a delivery's event again (a new delivery, after the pending ones)",
    responses=errors(ValidationFailed, NotFound),
)
async def redeliver(webhook_id: Id, delivery_id: Id, session: Session, account_id: AccountId) -> DeliveryOut:
    return _delivery(
        await webhooks.redeliver(
            session, account_id=account_id, webhook_id=webhook_id, delivery_id=delivery_id
        )
    )
