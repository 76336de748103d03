"""The SDK's public surface is pinned, and it imports without the server's dependencies."""

import subprocess
import sys

import vpsorg.client

PUBLIC = [
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
    "TransportError",
    "Unauthorized",
    "ValidationError",
    "VpsError",
    "Webhook",
    "WebhookDelivery",
]

# Importing any of these from the client would make it need the server's install.
SERVER_ONLY = ["fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "aiosqlite", "psycopg", "pydantic"]

BLOCKER = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {SERVER_ONLY!r}:
            raise ImportError("server-only module imported by the client: " + name)
sys.meta_path.insert(0, Block())
import vpsorg.client, vpsorg.client.cli
print(len(vpsorg.client.__all__))
"""


def test_the_public_surface_is_pinned() -> None:
    assert sorted(vpsorg.client.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(vpsorg.client, name) is not None


def test_the_client_and_vps_import_without_the_server() -> None:
    done = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(PUBLIC))
