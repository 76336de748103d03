"""Shared by the webhook tests: the README's verify() snippet, and waits."""

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.conftest import Customer
from tests.webhooks.receiver import Receiver
from vpsorg.actions.models import Action
from vpsorg.events.models import Event

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def readme_verify() -> Callable[[str, str, bytes], bool]:
    """The README's Webhooks section's Python snippet, run as written: its verify()."""
    section = README.split("### Webhooks", 1)[1].split("\n### ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "the README's Webhooks section has no Python snippet"
    namespace: dict[str, Any] = {}
    exec(compile(found.group(1), "README.md (Webhooks)", "exec"), namespace)
    verify: Callable[[str, str, bytes], bool] = namespace["verify"]
    return verify


def account_events(customer: Customer, after: int = 0) -> list[int]:
    """The ids of the account's events (after an id), in order."""

    async def read(session: Any) -> list[int]:
        q = (
            select(Event.id)
            .where(Event.account_id == customer.account_id, Event.id > after)
            .order_by(Event.id)
        )
        return list(await session.scalars(q))

    return list(customer.live.db(read))


def all_done(customer: Customer, server_id: int) -> bool:
    """Whether the server's actions have all finished."""

    async def read(session: Any) -> bool:
        q = select(Action.status).where(Action.server_id == server_id)
        statuses = list(await session.scalars(q))
        return bool(statuses) and all(s in ("success", "error") for s in statuses)

    return bool(customer.live.db(read))


def wait(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def deduplicated(receiver: Receiver) -> list[int]:
    """The event ids received, each once, in the order first received."""
    seen: list[int] = []
    for event_id in receiver.event_ids():
        if event_id not in seen:
            seen.append(event_id)
    return seen


def create_webhook(customer: Customer, url: str, **fields: Any) -> dict[str, Any]:
    r = customer.http.post("/api/v1/webhooks/", json={"url": url} | fields)
    assert r.status_code == 201, r.text
    return dict(r.json())


def deliveries(customer: Customer, webhook_id: int) -> list[dict[str, Any]]:
    r = customer.http.get(f"/api/v1/webhooks/{webhook_id}/deliveries/", params={"page_size": 200})
    assert r.status_code == 200, r.text
    return list(r.json()["results"])
