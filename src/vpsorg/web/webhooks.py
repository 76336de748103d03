"""The account's webhooks in the panel: /webhooks/ lists them, creates one (its secret shown
in the answer to the form, once, in a page that is not cached) and deletes one; a webhook's
page lists its deliveries with the receiver's status codes, and redelivers one.

Each change is the API's (vpsorg.webhooks.service, the same URL checks), the form read by
the same schema (WebhookCreate); a refusal re-renders the page in words with the API's status.
"""

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from vpsorg import inputs
from vpsorg.deps import Session
from vpsorg.errors import AppError, NotFound
from vpsorg.events.types import EventType
from vpsorg.pagination import PageParams
from vpsorg.web import refusals
from vpsorg.web.auth import SignedIn
from vpsorg.web.templating import render, url
from vpsorg.webhooks import service as webhooks
from vpsorg.webhooks.models import Webhook
from vpsorg.webhooks.router import Policy
from vpsorg.webhooks.schemas import WebhookCreate

router = APIRouter(prefix="/webhooks", include_in_schema=False)

PAGE_SIZE = 50
NOTICES = {
    "deleted": "The webhook was deleted: nothing more is sent to it.",
    "redelivered": "The event is queued to be sent again.",
}
PageNumber = Annotated[int, Query(ge=1, le=10_000_000)]
BLANK = {"url": "", "description": "", "event_types": []}


async def _page(
    request: Request,
    session: Session,
    viewer: SignedIn,
    *,
    page: int = 1,
    status: int = 200,
    form: dict[str, object] | None = None,
    refusal: refusals.Refusal | None = None,
    notice: str | None = None,
    created: Webhook | None = None,
) -> Response:
    params = PageParams(page=page, page_size=PAGE_SIZE)
    count, rows = await webhooks.list_webhooks(session, account_id=viewer.account_id, page=params)
    return render(
        request,
        "webhooks/list.html",
        viewer,
        section="webhooks",
        status_code=status,
        headers={"Cache-Control": "no-store"} if created else None,
        webhooks=rows,
        count=count,
        page=page,
        pages=max(1, -(-count // PAGE_SIZE)),
        types=[t.value for t in EventType],
        form=form or BLANK,
        refusal=refusal,
        notice=notice,
        created=created,
    )


@router.get("/")
async def list_page(
    request: Request, session: Session, viewer: SignedIn, page: PageNumber = 1, done: str = ""
) -> Response:
    return await _page(request, session, viewer, page=page, notice=NOTICES.get(done))


@router.post("/")
async def create(
    request: Request,
    session: Session,
    viewer: SignedIn,
    policy: Policy,
    url_: Annotated[str, Form(alias="url")] = "",
    description: Annotated[str, Form()] = "",
    event_types: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """A new webhook, of the types ticked (none ticked: every type)."""
    form: dict[str, object] = {"url": url_, "description": description, "event_types": event_types or []}
    try:
        body = refusals.parse(
            WebhookCreate,
            {"url": url_.strip(), "description": description.strip(), "event_types": event_types or ["*"]},
        )
        made = await webhooks.create(session, account_id=viewer.account_id, data=body, policy=policy)
    except AppError as exc:
        refused = refusals.refusal(exc)
        return await _page(request, session, viewer, status=refused.status, form=form, refusal=refused)
    return await _page(request, session, viewer, status=201, created=made)


def _id(raw: str, what: str) -> int:
    """The path's id; anything but one is a 404, as an unknown id (not the API's 400)."""
    found = inputs.path_id(raw)
    if found is None:
        raise NotFound(f"{what} {raw} not found")
    return found


@router.post("/{webhook_id}/delete")
async def delete(webhook_id: str, request: Request, session: Session, viewer: SignedIn) -> Response:
    await webhooks.delete_webhook(
        session, account_id=viewer.account_id, webhook_id=_id(webhook_id, "Webhook")
    )
    return RedirectResponse(url(request, "/webhooks/?done=deleted"), status_code=303)


@router.get("/{webhook_id}/")
async def deliveries_page(
    raw_id: Annotated[str, Path(alias="webhook_id")],
    request: Request,
    session: Session,
    viewer: SignedIn,
    page: PageNumber = 1,
    done: str = "",
) -> Response:
    """A webhook and its deliveries, newest first."""
    webhook_id = _id(raw_id, "Webhook")
    hook = await webhooks.get(session, account_id=viewer.account_id, webhook_id=webhook_id)
    params = PageParams(page=page, page_size=PAGE_SIZE)
    count, rows = await webhooks.list_deliveries(
        session, account_id=viewer.account_id, webhook_id=webhook_id, page=params
    )
    return render(
        request,
        "webhooks/deliveries.html",
        viewer,
        section="webhooks",
        webhook=hook,
        deliveries=rows,
        count=count,
        page=page,
        pages=max(1, -(-count // PAGE_SIZE)),
        notice=NOTICES.get(done),
    )


@router.post("/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    webhook_id: inputs.PathId,
    delivery_id: inputs.PathId,
    request: Request,
    session: Session,
    viewer: SignedIn,
) -> Response:
    await webhooks.redeliver(
        session, account_id=viewer.account_id, webhook_id=webhook_id, delivery_id=delivery_id
    )
    return RedirectResponse(url(request, f"/webhooks/{webhook_id}/?done=redelivered"), status_code=303)
