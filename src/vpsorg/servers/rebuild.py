"""Rebuild: reinstall a server from a clean OS image, or restore one of the account's
snapshots onto it, keeping its id, addresses, hostname and plan.

The request sets what the machine is to become (its OS, its keys, its next install number)
and queues a `rebuild` action in the same transaction; the worker reads the machine's spec
when it runs it and asks the driver to replace the disk (Driver.rebuild). Everything on the
old disk is lost, by design. A restore is the same rebuild with the snapshot as the disk's
source (servers.source_snapshot_id, read into the spec as VmSpec.disk_snapshot) and the
snapshot's OS as the server's.
"""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.actions import service as actions
from vpsorg.actions.models import Action
from vpsorg.catalog.models import OperatingSystem, Plan
from vpsorg.db import utcnow
from vpsorg.errors import InvalidState, NotFound, ValidationFailed
from vpsorg.servers import service as servers
from vpsorg.servers.models import Server
from vpsorg.servers.schemas import ServerRebuild
from vpsorg.servers.states import TRANSITIONS, ActionType, ServerStatus, can_request
from vpsorg.snapshots import service as snapshots
from vpsorg.ssh_keys.models import SshKey


async def public_keys(session: AsyncSession, *, account_id: int, key_ids: Sequence[int]) -> list[str]:
    """The public keys of these ids, in their order (a repeated id once), each checked to be
    one of the account's: a 400 naming the first that is not (as create's ssh_key_id)."""
    wanted = list(dict.fromkeys(key_ids))
    rows = await session.execute(
        select(SshKey.id, SshKey.public_key).where(SshKey.id.in_(wanted), SshKey.account_id == account_id)
    )
    found = {key_id: public_key for key_id, public_key in rows}
    for key_id in wanted:
        if key_id not in found:
            raise ValidationFailed.field("ssh_key_ids", f"no SSH key with id {key_id}")
    return [found[key_id] for key_id in wanted]


async def request_rebuild(
    session: AsyncSession, *, account_id: int, server_id: int, data: ServerRebuild
) -> tuple[Server, Action]:
    """Check the server may be rebuilt (active or stopped), the OS and the keys; set the
    server's new OS and keys and its `rebuilding` status, and queue the rebuild."""
    server = await servers.get_for_update(session, account_id=account_id, server_id=server_id)
    status = ServerStatus(server.status)
    if not can_request(ActionType.REBUILD, status):
        raise InvalidState(
            f"Cannot rebuild a server that is {status}; it must be active or stopped",
            details={"status": status, "action": ActionType.REBUILD},
        )
    os_ = await _new_os(session, server, data)
    if data.ssh_key_ids is not None:
        keys = await public_keys(session, account_id=account_id, key_ids=data.ssh_key_ids)
        server.ssh_public_keys = keys
        # The first key is also the server's one key, as a create with ssh_key_id has it.
        server.ssh_key_id = data.ssh_key_ids[0] if keys else None
        server.ssh_public_key = keys[0] if keys else None
    server.os_id = os_.id
    server.source_snapshot_id = data.snapshot_id
    server.rebuilds += 1
    during = TRANSITIONS[ActionType.REBUILD].during
    assert during is not None
    server.status = during
    server.updated_at = utcnow()
    action = await actions.enqueue(
        session,
        account_id=account_id,
        server_id=server.id,
        type=ActionType.REBUILD,
        reason=f"reinstall {os_.name}"
        if data.snapshot_id is None
        else f"restore snapshot {data.snapshot_id}",
    )
    return server, action


async def installed_key_ids(session: AsyncSession, *, account_id: int, server_id: int) -> list[int]:
    """The ids of the account's keys the server was last installed with (matched by their
    text, which the server keeps), in the account's order: what a rebuild installs by default.
    An unknown server: NotFound."""
    row = (
        await session.execute(
            select(Server.ssh_public_keys, Server.ssh_public_key).where(
                Server.id == server_id, Server.account_id == account_id, Server.deleted_at.is_(None)
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"Server {server_id} not found")
    installed = row.ssh_public_keys if row.ssh_public_keys is not None else [row.ssh_public_key]
    texts = {text for text in installed if text}
    if not texts:
        return []
    ids = await session.scalars(
        select(SshKey.id)
        .where(SshKey.account_id == account_id, SshKey.public_key.in_(texts))
        .order_by(SshKey.id)
    )
    return list(ids)


async def _new_os(session: AsyncSession, server: Server, data: ServerRebuild) -> OperatingSystem:
    """The OS the server becomes: the one asked for (offered in the catalog), or a restored
    snapshot's (checked to be the account's, available and to fit the server's disk)."""
    if data.snapshot_id is None:
        os_ = await session.get(OperatingSystem, data.os_id)
        if os_ is None or not os_.available:
            raise ValidationFailed.field("os_id", f"no operating system with id {data.os_id}")
        return os_
    plan = await session.get(Plan, server.plan_id)
    assert plan is not None
    os_id = await snapshots.restorable(
        session,
        account_id=server.account_id,
        snapshot_id=data.snapshot_id,
        storage_gb=plan.storage,
        host_id=server.host_id,
    )
    # The snapshot's OS, even one the catalog no longer offers: the disk is the snapshot's.
    os_ = await session.get(OperatingSystem, os_id)
    if os_ is None:
        raise ValidationFailed.field(
            "snapshot_id", f"the operating system of snapshot {data.snapshot_id} is gone"
        )
    return os_
