"""The worker's webhook jobs: fan new events out into deliveries, and send the due ones.

Fan-out: for each webhook, the account's events after its cursor become deliveries (of the
types it asked for; none while it is disabled) and the cursor moves past them, in one
transaction under the webhook's row lock: each event becomes one delivery per webhook.

Sending: a webhook's deliveries go in id order, one at a time; only its oldest pending one
(its head) can be claimed, and only once due. A claim takes a lease and bumps the fence
(as actions do); the outcome is written only under that fence. A worker killed mid-send
leaves the lease to expire, and the next claim sends it again: at least once, never lost.
A failure is retried after `delivery.backoff`; past the retry window it is given up (`failed`) and
the webhook's next delivery goes.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from vpsorg import failpoints, metrics
from vpsorg.config import Settings
from vpsorg.db import utcnow
from vpsorg.events import service as events
from vpsorg.events.models import Event
from vpsorg.webhooks import delivery, urls
from vpsorg.webhooks.models import Delivery, DeliveryStatus, Webhook

log = logging.getLogger("vpsorg.webhooks")

FAN_OUT_BATCH = 500


async def fan_out(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Deliveries for every webhook's new events; how many were made."""
    newer = select(Event.id).where(Event.account_id == Webhook.account_id, Event.id > Webhook.cursor)
    async with sessions() as session:
        ids = list(await session.scalars(select(Webhook.id).where(newer.exists()).order_by(Webhook.id)))
    made = 0
    for webhook_id in ids:
        while True:
            async with sessions.begin() as session:
                n, more = await _fan_out_one(session, webhook_id)
            made += n
            if not more:
                break
    return made


async def _fan_out_one(session: AsyncSession, webhook_id: int) -> tuple[int, bool]:
    """One batch of the webhook's new events (under its row lock); how many deliveries it
    made, and whether more events wait."""
    webhook = await session.scalar(select(Webhook).where(Webhook.id == webhook_id).with_for_update())
    if webhook is None:
        return 0, False
    rows = await events.after(
        session, last_id=webhook.cursor, account_id=webhook.account_id, limit=FAN_OUT_BATCH
    )
    if not rows:
        return 0, False
    wanted = set(webhook.event_types)
    now = utcnow()
    deliveries = [
        Delivery(
            webhook_id=webhook.id,
            event_id=e.id,
            event_type=e.type,
            body=e.encoded,
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
            created_at=now,
        )
        for e in rows
        if webhook.enabled and ("*" in wanted or e.type in wanted)
    ]
    session.add_all(deliveries)
    webhook.cursor = rows[-1].id
    await session.flush()
    return len(deliveries), len(rows) == FAN_OUT_BATCH


@dataclass(frozen=True)
class Claimed:
    """A delivery claimed for one attempt, with what sending it needs."""

    id: int
    fence: int
    webhook_id: int
    url: str
    secret: str
    event_id: int
    event_type: str
    body: str
    attempts: int  # this attempt included
    first_attempt_at: datetime


def _heads(now: datetime) -> list[ColumnElement[bool]]:
    """Where a delivery is its webhook's head (its oldest pending one), due and unleased."""
    older = aliased(Delivery)
    head = (
        select(func.min(older.id))
        .where(older.webhook_id == Delivery.webhook_id, older.status == DeliveryStatus.PENDING)
        .scalar_subquery()
    )
    return [
        Delivery.status == DeliveryStatus.PENDING,
        Delivery.id == head,
        Delivery.next_attempt_at <= now,
        or_(Delivery.lease_expires_at.is_(None), Delivery.lease_expires_at < now),
        Webhook.enabled.is_(True),
    ]


async def claim(
    session: AsyncSession,
    *,
    owner: str,
    lease_seconds: float,
    limit: int,
    webhook_id: int | None = None,
) -> list[Claimed]:
    """Claim up to `limit` due heads (of one webhook, if given), each under a new fence."""
    now = utcnow()
    q = (
        select(Delivery.id, Delivery.fence, Webhook.url, Webhook.secret)
        .join(Webhook, Webhook.id == Delivery.webhook_id)
        .where(*_heads(now))
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    if webhook_id is not None:
        q = q.where(Delivery.webhook_id == webhook_id)
    claimed = []
    for delivery_id, fence, url, secret in (await session.execute(q)).all():
        row = (
            await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.fence == fence)
                .values(
                    fence=fence + 1,
                    lease_owner=owner,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    attempts=Delivery.attempts + 1,
                    first_attempt_at=func.coalesce(Delivery.first_attempt_at, now),
                    last_attempt_at=now,
                )
                .returning(
                    Delivery.webhook_id,
                    Delivery.event_id,
                    Delivery.event_type,
                    Delivery.body,
                    Delivery.attempts,
                    Delivery.first_attempt_at,
                )
                .execution_options(synchronize_session=False)
            )
        ).first()
        if row is not None:  # else another worker claimed it first
            claimed.append(Claimed(delivery_id, fence + 1, url=url, secret=secret, **row._asdict()))
    return claimed


async def record(
    session: AsyncSession, claimed: Claimed, attempt: delivery.Attempt, settings: Settings
) -> str | None:
    """Write an attempt's outcome, if the claim is still current; what became of the
    delivery (succeeded, retry, failed), or None for a stale claim (its outcome discarded).

    A failure is tried again after `delivery.backoff`, unless that would be past the retry
    window from the first attempt: then it is given up (failed) and the webhook's next goes."""
    now = utcnow()
    values: dict[str, object] = {
        "last_status_code": attempt.status_code,
        "last_error": attempt.error,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    wait = delivery.backoff(
        claimed.attempts, base=settings.webhooks_retry_base_seconds, cap=settings.webhooks_retry_max_seconds
    )
    window_end = claimed.first_attempt_at + timedelta(seconds=settings.webhooks_retry_window_seconds)
    if attempt.ok:
        outcome, values["status"], values["finished_at"] = "succeeded", DeliveryStatus.SUCCEEDED, now
    elif now + timedelta(seconds=wait) > window_end:
        outcome, values["status"], values["finished_at"] = "failed", DeliveryStatus.FAILED, now
    else:
        outcome, values["next_attempt_at"] = "retry", now + timedelta(seconds=wait)
    done = await session.execute(
        update(Delivery)
        .where(Delivery.id == claimed.id, Delivery.fence == claimed.fence)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return outcome if done.rowcount else None  # type: ignore[attr-defined]


async def attempt(claimed: Claimed, settings: Settings) -> delivery.Attempt:
    """One attempt: the URL checked again (and its address kept for the connection), then
    the signed POST."""
    policy = urls.Policy(
        allow_http=settings.webhooks_allow_http, allow_private=settings.webhooks_allow_private
    )
    try:
        target = await urls.check(claimed.url, policy)
    except urls.UnsafeUrl as exc:
        return delivery.Attempt(None, f"not sent: {exc.message}")
    body = claimed.body.encode()
    headers = delivery.headers(
        secret=claimed.secret, event_id=claimed.event_id, event_type=claimed.event_type, body=body
    )
    return await delivery.send(target, body, headers, timeout=settings.webhooks_timeout_seconds)


async def _send_in_turn(
    sessions: async_sessionmaker[AsyncSession], first: Claimed, settings: Settings, owner: str
) -> int:
    """Send a webhook's due deliveries one after another, from a claimed head, until one is
    to be retried later or none is due; how many succeeded."""
    sent = 0
    claimed: Claimed | None = first
    while claimed is not None:
        result = await attempt(claimed, settings)
        failpoints.hit("webhooks.after_send")
        async with sessions.begin() as session:
            recorded = await record(session, claimed, result, settings)
        metrics.WEBHOOK_ATTEMPTS.labels(recorded or "stale").inc()
        if recorded is None:
            log.warning("webhook delivery %s: outcome discarded, the claim is stale", claimed.id)
        if result.error:
            log.info("webhook delivery %s (attempt %d): %s", claimed.id, claimed.attempts, result.error)
        if recorded not in ("succeeded", "failed"):  # it stays the head: the rest wait for it
            return sent
        sent += recorded == "succeeded"
        async with sessions.begin() as session:
            more = await claim(
                session,
                owner=owner,
                lease_seconds=settings.webhooks_lease_seconds,
                limit=1,
                webhook_id=claimed.webhook_id,
            )
        claimed = more[0] if more else None
    return sent


async def send_due(sessions: async_sessionmaker[AsyncSession], settings: Settings, *, owner: str) -> int:
    """Claim the due heads of up to webhooks_concurrency webhooks and send each webhook's due
    deliveries in turn, the webhooks side by side; how many succeeded."""
    async with sessions() as session:  # a cheap read first: an idle worker takes no lock
        due = await session.scalar(
            select(Delivery.id)
            .join(Webhook, Webhook.id == Delivery.webhook_id)
            .where(*_heads(utcnow()))
            .limit(1)
        )
    if due is None:
        return 0
    async with sessions.begin() as session:
        claimed = await claim(
            session,
            owner=owner,
            lease_seconds=settings.webhooks_lease_seconds,
            limit=settings.webhooks_concurrency,
        )
    sent = await asyncio.gather(*(_send_in_turn(sessions, c, settings, owner) for c in claimed))
    return sum(sent)


async def run(sessions: async_sessionmaker[AsyncSession], settings: Settings, *, owner: str) -> None:
    """One pass (the worker's timer): fan out, then send what is due."""
    await fan_out(sessions)
    await send_due(sessions, settings, owner=owner)
