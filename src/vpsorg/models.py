"""Imports every model so that Base.metadata knows all tables (the simulator's are its own)."""

from vpsorg.accounts.models import Account, ApiToken
from vpsorg.actions.models import Action
from vpsorg.admin.models import AuditEntry
from vpsorg.billing.models import LedgerEntry
from vpsorg.catalog.models import Location, OperatingSystem, Plan, Price
from vpsorg.console.models import ConsoleTicket
from vpsorg.events.models import Event
from vpsorg.hosts.models import Host
from vpsorg.idempotency import IdempotencyRecord
from vpsorg.ipam.models import ReleasedAddress
from vpsorg.servers.models import Server, ServerUsage
from vpsorg.snapshots.models import Snapshot
from vpsorg.ssh_keys.models import SshKey
from vpsorg.usage.models import UsageHistory
from vpsorg.webhooks.models import Delivery, Webhook

__all__ = [
    "Account",
    "Action",
    "ApiToken",
    "AuditEntry",
    "ConsoleTicket",
    "Event",
    "Host",
    "IdempotencyRecord",
    "LedgerEntry",
    "Location",
    "OperatingSystem",
    "Plan",
    "Price",
    "ReleasedAddress",
    "Server",
    "ServerUsage",
    "Snapshot",
    "SshKey",
    "UsageHistory",
    "Webhook",
    "Delivery",
]
