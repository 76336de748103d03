"""A Python client for the VPS.org server API (vpsorg.client).

    from vpsorg.client import Client

    with Client("https://vps.example.com", token) as vps:
        server = vps.servers.create("web-1", plan_id=1, os_id=5, location="us-west", wait=True)
        server.reboot().wait(timeout=300)
        for s in vps.servers.list(status="active"):
            print(s.id, s.name, s.ip_address)

Needs only httpx and tenacity (not the server's dependencies); `AsyncClient` is the same
API with `await`. Errors: vpsorg.client.errors.
"""

from vpsorg.client._core import Backoff
from vpsorg.client.aio import AsyncAction, AsyncClient, AsyncServer
from vpsorg.client.errors import (
    ActionFailed,
    ActionTimeout,
    APIError,
    Forbidden,
    InvalidState,
    NotFound,
    PaymentRequired,
    QuotaExceeded,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    ValidationError,
    VpsError,
)
from vpsorg.client.models import (
    Account,
    ActionRef,
    ConsoleTicket,
    DryRun,
    Event,
    LedgerEntry,
    Location,
    OperatingSystem,
    Plan,
    ResourceUsage,
    Snapshot,
    SshKey,
    Token,
    Webhook,
    WebhookDelivery,
)
from vpsorg.client.sync import Action, Client, Server

__all__ = [
    "APIError",
    "Account",
    "Action",
    "ActionFailed",
    "ActionRef",
    "ActionTimeout",
    "AsyncAction",
    "AsyncClient",
    "AsyncServer",
    "Backoff",
    "Client",
    "ConsoleTicket",
    "DryRun",
    "Event",
    "Forbidden",
    "InvalidState",
    "LedgerEntry",
    "Location",
    "NotFound",
    "OperatingSystem",
    "PaymentRequired",
    "Plan",
    "QuotaExceeded",
    "RateLimited",
    "ResourceUsage",
    "Server",
    "ServerError",
    "Snapshot",
    "SshKey",
    "Token",
    "Webhook",
    "WebhookDelivery",
    "TransportError",
    "Unauthorized",
    "ValidationError",
    "VpsError",
]
