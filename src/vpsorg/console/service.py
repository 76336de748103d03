"""Serial console tickets: issued to the server's account while it runs, consumed once.

A ticket is `secrets.token_urlsafe(32)`, shown once (in the URL the POST answers); only its
SHA-256 is stored. It is bound to the server (and so to the account), lives
`console_ticket_seconds`, and is consumed by one conditional UPDATE (used_at IS NULL and
not expired), so of any number of processes that are handed it at once exactly one wins.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.console.models import ConsoleTicket
from vpsorg.db import utcnow
from vpsorg.errors import InvalidState
from vpsorg.hosts.models import Host
from vpsorg.servers import service as servers
from vpsorg.servers.models import Server
from vpsorg.servers.states import ServerStatus

REFUSED = "The console ticket is unknown, expired or used; request a new one"


class TicketRefused(Exception):
    """A console ticket that opens nothing (unknown, expired, used; or its server no longer
    runs): its message is the WebSocket's close reason."""


@dataclass(frozen=True)
class Issued:
    ticket: str
    expires_at: datetime


@dataclass(frozen=True)
class Target:
    """What a valid ticket opens: the server, its host, and where that host's worker takes
    console relays (None: no worker has said)."""

    server_id: int
    host_id: int | None
    relay_address: str | None


def hash_ticket(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


async def issue(session: AsyncSession, *, account_id: int, server_id: int, lifetime: float) -> Issued:
    """A new ticket to the console of the account's server, which must be running (active)."""
    server = await servers.get_for_update(session, account_id=account_id, server_id=server_id)
    status = ServerStatus(server.status)
    if status != ServerStatus.ACTIVE:
        raise InvalidState(
            f"Cannot open the console of a server that is {status}; it must be active",
            details={"status": status},
        )
    ticket = secrets.token_urlsafe(32)
    now = utcnow()
    expires = now + timedelta(seconds=lifetime)
    session.add(
        ConsoleTicket(
            token_hash=hash_ticket(ticket),
            account_id=account_id,
            server_id=server_id,
            created_at=now,
            expires_at=expires,
        )
    )
    await session.flush()
    return Issued(ticket, expires)


async def _target(session: AsyncSession, server_id: int, account_id: int) -> Target:
    """The running server's target; TicketRefused when it is gone or not running."""
    row = (
        await session.execute(
            select(Server.status, Server.host_id, Host.console_address)
            .outerjoin(Host, Host.id == Server.host_id)
            .where(Server.id == server_id, Server.account_id == account_id, Server.deleted_at.is_(None))
        )
    ).first()
    if row is None or row.status != ServerStatus.ACTIVE:
        raise TicketRefused(f"Server {server_id} is not running")
    return Target(server_id, row.host_id, row.console_address)


async def peek(session: AsyncSession, *, ticket: str) -> Target:
    """Where a valid ticket leads, leaving it unused (an API process routes by it before the
    worker consumes it); TicketRefused otherwise."""
    found = (
        await session.execute(
            select(ConsoleTicket.server_id, ConsoleTicket.account_id).where(
                ConsoleTicket.token_hash == hash_ticket(ticket),
                ConsoleTicket.used_at.is_(None),
                ConsoleTicket.expires_at > utcnow(),
            )
        )
    ).first()
    if found is None:
        raise TicketRefused(REFUSED)
    return await _target(session, found.server_id, found.account_id)


async def consume(session: AsyncSession, *, ticket: str) -> Target:
    """Use the ticket up (the one conditional UPDATE: a second use, or one after it expired,
    changes no row) and say what it opens; TicketRefused otherwise."""
    now = utcnow()
    found = (
        await session.execute(
            update(ConsoleTicket)
            .where(
                ConsoleTicket.token_hash == hash_ticket(ticket),
                ConsoleTicket.used_at.is_(None),
                ConsoleTicket.expires_at > now,
            )
            .values(used_at=now)
            .returning(ConsoleTicket.server_id, ConsoleTicket.account_id)
        )
    ).first()
    if found is None:
        raise TicketRefused(REFUSED)
    return await _target(session, found.server_id, found.account_id)


async def purge(session: AsyncSession, *, older_than: timedelta = timedelta(days=1)) -> int:
    """Remove tickets that expired more than `older_than` ago; how many."""
    result = await session.execute(
        delete(ConsoleTicket).where(ConsoleTicket.expires_at < utcnow() - older_than)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
