"""Webhooks: an account's URLs that the worker POSTs its events to (vpsorg.webhooks.jobs),
and their delivery log.

A URL is checked when it is set (vpsorg.webhooks.urls: scheme, and every address it
resolves to) and again before every delivery. A new webhook receives the events after its
creation, not the account's history: its cursor starts at the account's latest event.
"""

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.db import utcnow
from vpsorg.errors import NotFound, QuotaExceeded
from vpsorg.events import service as events
from vpsorg.pagination import PageParams
from vpsorg.webhooks import signing, urls
from vpsorg.webhooks.models import Delivery, DeliveryStatus, Webhook
from vpsorg.webhooks.schemas import WebhookCreate, WebhookPatch

MAX_WEBHOOKS = 20  # per account


async def create(
    session: AsyncSession, *, account_id: int, data: WebhookCreate, policy: urls.Policy
) -> Webhook:
    """A new webhook with a new secret (UnsafeUrl for a URL that may not be called)."""
    await urls.check(data.url, policy)
    count = await session.scalar(
        select(func.count()).select_from(Webhook).where(Webhook.account_id == account_id)
    )
    if (count or 0) >= MAX_WEBHOOKS:
        raise QuotaExceeded(
            f"An account may have at most {MAX_WEBHOOKS} webhooks",
            details={"resource": "webhooks", "limit": MAX_WEBHOOKS, "used": count},
        )
    now = utcnow()
    webhook = Webhook(
        account_id=account_id,
        url=data.url,
        event_types=[str(t) for t in data.event_types],
        enabled=data.enabled,
        description=data.description,
        secret=signing.new_secret(),
        cursor=await events.latest_id(session, account_id=account_id),
        created_at=now,
        updated_at=now,
    )
    session.add(webhook)
    await session.flush()
    return webhook


async def list_webhooks(
    session: AsyncSession, *, account_id: int, page: PageParams
) -> tuple[int, list[Webhook]]:
    """The account's webhooks, oldest first."""
    where = Webhook.account_id == account_id
    count = await session.scalar(select(func.count()).select_from(Webhook).where(where)) or 0
    rows = await session.scalars(
        select(Webhook).where(where).order_by(Webhook.id).offset(page.offset).limit(page.page_size)
    )
    return count, list(rows)


async def get(session: AsyncSession, *, account_id: int, webhook_id: int, lock: bool = False) -> Webhook:
    """The account's webhook; NotFound for another account's."""
    q = select(Webhook).where(Webhook.id == webhook_id, Webhook.account_id == account_id)
    found = await session.scalar(q.with_for_update() if lock else q)
    if found is None:
        raise NotFound(f"Webhook {webhook_id} not found")
    return found


async def update(
    session: AsyncSession, *, account_id: int, webhook_id: int, data: WebhookPatch, policy: urls.Policy
) -> Webhook:
    """Change the fields given (a new URL is checked as at create). Enabled again, it
    receives the events from then on, not those that happened while it was disabled."""
    webhook = await get(session, account_id=account_id, webhook_id=webhook_id, lock=True)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    if "url" in changes:
        await urls.check(changes["url"], policy)
    if changes.get("enabled") and not webhook.enabled:  # what happened while off is not sent
        webhook.cursor = await events.latest_id(session, account_id=account_id)
    for name, value in changes.items():
        setattr(webhook, name, [str(t) for t in value] if name == "event_types" else value)
    webhook.updated_at = utcnow()
    await session.flush()
    return webhook


async def delete_webhook(session: AsyncSession, *, account_id: int, webhook_id: int) -> None:
    """Remove it and its delivery log; nothing more is sent (a delivery in flight is not
    recorded: its row is gone)."""
    webhook = await get(session, account_id=account_id, webhook_id=webhook_id, lock=True)
    await session.execute(delete(Delivery).where(Delivery.webhook_id == webhook.id))
    await session.delete(webhook)
    await session.flush()


async def list_deliveries(
    session: AsyncSession, *, account_id: int, webhook_id: int, page: PageParams
) -> tuple[int, list[Delivery]]:
    """The webhook's deliveries, newest first."""
    await get(session, account_id=account_id, webhook_id=webhook_id)
    where = Delivery.webhook_id == webhook_id
    count = await session.scalar(select(func.count()).select_from(Delivery).where(where)) or 0
    rows = await session.scalars(
        select(Delivery).where(where).order_by(Delivery.id.desc()).offset(page.offset).limit(page.page_size)
    )
    return count, list(rows)


async def redeliver(session: AsyncSession, *, account_id: int, webhook_id: int, delivery_id: int) -> Delivery:
    """Queue the delivery's event again, as a new delivery after the webhook's pending ones
    (the same body; a fresh retry window)."""
    webhook = await get(session, account_id=account_id, webhook_id=webhook_id, lock=True)
    original = await session.scalar(
        select(Delivery).where(Delivery.id == delivery_id, Delivery.webhook_id == webhook.id)
    )
    if original is None:
        raise NotFound(f"Delivery {delivery_id} of webhook {webhook_id} not found")
    now = utcnow()
    again = Delivery(
        webhook_id=webhook.id,
        event_id=original.event_id,
        event_type=original.event_type,
        body=original.body,
        status=DeliveryStatus.PENDING,
        next_attempt_at=now,
        created_at=now,
        redelivery_of=original.id,
    )
    session.add(again)
    await session.flush()
    return again
