"""What operators do through /api/v1/admin/: suspend and unsuspend any server."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.accounts.models import Account
from vpsorg.actions.models import Action
from vpsorg.billing.service import CURRENCY
from vpsorg.errors import InvalidState, NotFound
from vpsorg.servers import suspension
from vpsorg.servers.models import Server
from vpsorg.servers.states import ServerStatus


async def _server(session: AsyncSession, server_id: int) -> Server:
    server = await session.scalar(
        select(Server).where(Server.id == server_id, Server.deleted_at.is_(None)).with_for_update()
    )
    if server is None:
        raise NotFound(f"Server {server_id} not found")
    return server


async def suspend_server(
    session: AsyncSession, *, server_id: int, reason: str
) -> tuple[Server, Action | None]:
    """Suspend one server; it stays suspended until an operator unsuspends it, whatever the
    account's balance does. A server suspended by billing becomes the operator's."""
    server = await _server(session, server_id)
    if not suspension.can_suspend(server) and server.status != ServerStatus.SUSPENDED:
        raise InvalidState(
            f"Cannot suspend a server that is {server.status}", details={"status": server.status}
        )
    action = await suspension.suspend(session, server, by=suspension.BY_ADMIN, reason=f"suspended: {reason}")
    return server, action


async def unsuspend_server(session: AsyncSession, *, server_id: int, reason: str) -> tuple[Server, Action]:
    """Lift a suspension; refused while the account's balance is not above zero (billing
    would suspend it again at once)."""
    server = await _server(session, server_id)
    if server.status != ServerStatus.SUSPENDED:
        raise InvalidState(
            f"Server {server_id} is {server.status}, not suspended", details={"status": server.status}
        )
    balance = await session.scalar(select(Account.balance).where(Account.id == server.account_id))
    assert balance is not None
    if balance <= 0:
        raise InvalidState(
            f"The account's balance is {balance:.2f} {CURRENCY}; credit it above zero first",
            details={"status": server.status, "balance": f"{balance:.2f}", "currency": CURRENCY},
        )
    action = await suspension.lift(session, server, reason=f"suspension lifted: {reason}")
    return server, action
