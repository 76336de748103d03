"""Typed views of the API's JSON. Every model keeps the object it was read from in `raw`
(what `vps -o json` prints); fields the API adds later are kept there too.

Money is `Decimal`, timestamps are timezone-aware `datetime`s.
"""

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar, Union, cast

M = TypeVar("M", bound="Model")


@dataclass(frozen=True)
class Model:
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_api(cls: type[M], data: dict[str, Any]) -> M:
        values: dict[str, Any] = {"raw": data}
        for name, hint, required in _fields(cast(type, cls)):
            if name in data:
                values[name] = _convert(hint, data[name])
            elif required:
                values[name] = None  # a field this representation leaves out (a list's summary)
        return cls(**values)


@functools.cache
def _fields(cls: type) -> list[tuple[str, Any, bool]]:
    """(name, type, has no default) of each field the API fills."""
    hints = typing.get_type_hints(cls)
    return [
        (f.name, hints[f.name], f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
        for f in dataclasses.fields(cls)
        if f.init and f.name != "raw" and not f.name.startswith("_")
    ]


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(inner[0], value) if len(inner) == 1 else value
    if isinstance(hint, type):
        if issubclass(hint, Model):
            return hint.from_api(value)
        if hint is datetime:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        if hint is Decimal:
            return Decimal(str(value))
    return value


@dataclass(frozen=True)
class Plan(Model):
    id: int
    name: str
    vcpus: int
    memory: int  # MiB
    storage: int  # GB
    bandwidth: int | None = None  # GB per month
    price_monthly: Decimal | None = None
    price_hourly: Decimal | None = None
    currency: str | None = None


@dataclass(frozen=True)
class OperatingSystem(Model):
    id: int
    name: str
    slug: str | None = None  # e.g. "ubuntu-22.04"; unique, stable
    family: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class Location(Model):
    code: str
    name: str
    country: str


@dataclass(frozen=True)
class ResourceUsage(Model):
    cpu_percent: float
    memory_used: int  # MiB
    disk_used: int  # GB
    bandwidth_used: int  # GB this month
    sampled_at: datetime | None = None


@dataclass(frozen=True)
class ActionRef(Model):
    id: int
    type: str
    status: str


@dataclass(frozen=True)
class ActionData(Model):
    id: int
    type: str
    status: str
    server_id: int | None = None
    reason: str | None = None
    error: str | None = None
    attempts: int | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("success", "error")


@dataclass(frozen=True)
class ServerData(Model):
    """A server as listed (summary) or fetched (details: the optional fields are set)."""

    id: int
    name: str
    hostname: str
    status: str
    ip_address: str | None
    location: str
    plan: Plan
    os: OperatingSystem
    created_at: datetime
    updated_at: datetime
    ipv6_address: str | None = None
    backups_enabled: bool | None = None
    error: str | None = None
    resource_usage: ResourceUsage | None = None
    labels: dict[str, str] | None = None  # key -> value (servers.list(label_selector=...) selects by them)
    action: ActionRef | None = None  # a create's response: the action provisioning it


@dataclass(frozen=True)
class ConsoleTicket(Model):
    """A single-use ticket to a server's serial console: a WebSocket `url` to connect to
    before `expires_at` (60 s), once (`vps servers console ID` does it for a terminal)."""

    url: str
    expires_at: datetime


@dataclass(frozen=True)
class DryRun(Model):
    """What `servers.create(..., dry_run=True)` answers when the create would succeed: its
    prices (a month at most and an hour, backups included) and its location. Nothing was
    created; a refusal raises what the create would."""

    would_create: bool
    monthly_price: Decimal
    hourly_price: Decimal
    location: str


@dataclass(frozen=True)
class Snapshot(Model):
    """A snapshot or a daily backup (`kind`) of a server's disk; `size_gb` and
    `price_monthly` once `status` is available. `action` is set in what create() returns
    without waiting: the action taking it."""

    id: int
    name: str
    kind: str
    status: str
    server_id: int
    size_gb: int | None
    price_monthly: Decimal | None
    error: str | None
    created_at: datetime
    action: ActionRef | None = None


@dataclass(frozen=True)
class Webhook(Model):
    """A URL your account's events are POSTed to. `secret` (what deliveries are signed
    with) is set only in what create() returns."""

    id: int
    url: str
    event_types: list[str]
    enabled: bool
    description: str
    created_at: datetime
    updated_at: datetime
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class WebhookDelivery(Model):
    """One event sent (or to be sent) to a webhook: status pending, succeeded or failed."""

    id: int
    event_id: int
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    redelivery_of: int | None
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class SshKey(Model):
    id: int
    name: str
    public_key: str
    fingerprint: str
    created_at: datetime


@dataclass(frozen=True)
class Token(Model):
    """An API token of your account. `token` (the secret) is set only in what create() returns."""

    id: int
    name: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Account(Model):
    id: int
    email: str
    balance: Decimal
    available_credit: Decimal | None = None
    monthly_commitment: Decimal | None = None
    servers: int | None = None
    currency: str = "USD"
    created_at: datetime | None = None
    # {"servers": {"limit", "used"}, "ssh_keys": {...}}; the admin API's limits add "override".
    limits: dict[str, Any] | None = None


@dataclass(frozen=True)
class LedgerEntry(Model):
    id: int
    kind: str
    amount: Decimal
    balance_after: Decimal
    reason: str
    currency: str = "USD"
    server_id: int | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    hours: int | None = None
    backup_hours: int | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class EventObject(Model):
    type: str  # "server", "action", "snapshot" or "account"
    id: int


@dataclass(frozen=True)
class Event(Model):
    """A change in your account (README "Events" lists the types and their `data`): `id`
    grows in the order the changes were committed, so the last one seen is where a stream
    resumes (`events.stream(last_event_id=...)`)."""

    id: int
    type: str  # e.g. "server.status_changed", "action.finished"
    object: EventObject
    server_id: int | None
    data: dict[str, Any]
    created_at: datetime
