"""The operators' API. Every route needs a token with the admin scope (`vpsorg tokens create
--scope admin`); any other token gets 403. Every change is recorded in the audit log
(GET /api/v1/admin/audit/) with the token's account as its actor."""

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from vpsorg import inputs
from vpsorg.accounts import limits
from vpsorg.accounts import service as accounts
from vpsorg.accounts.schemas import AccountOut, LedgerEntryOut
from vpsorg.actions import service as actions
from vpsorg.actions.schemas import ActionOut, ActionRef
from vpsorg.admin import accounts as operators
from vpsorg.admin import audit
from vpsorg.admin import service as admin
from vpsorg.admin.audit import AuditAction, TargetType
from vpsorg.admin.schemas import (
    AccountSuspendIn,
    AccountSuspensionOut,
    AdminServer,
    AdminServerDetail,
    AuditEntryOut,
    CreditIn,
    DrainedServer,
    DrainResult,
    HostOut,
    LeftServer,
    LimitsIn,
    LimitsOut,
    MigrateIn,
    MigrationResult,
    ReasonIn,
    SuspensionResult,
)
from vpsorg.billing import service as billing
from vpsorg.billing.models import EntryKind
from vpsorg.deps import AdminId, DefaultLimits, HostDownSeconds, Placement, Session
from vpsorg.errors import AUTH_RESPONSES, CapacityExhausted, InvalidState, NotFound, ValidationFailed, errors
from vpsorg.hosts.service import HostState
from vpsorg.http import idempotency
from vpsorg.http.pagination import page_params, paged
from vpsorg.pagination import MAX_ID, Page, PageParams
from vpsorg.servers.schemas import ServerBrief
from vpsorg.servers.states import ServerStatus

router = APIRouter(
    prefix="/api/v1/admin", tags=["admin"], responses=AUTH_RESPONSES, route_class=inputs.LimitedRoute
)

AccountIdPath = inputs.PathId
ServerIdPath = inputs.PathId


@router.get("/accounts/", summary="List (and search) accounts", responses=errors(ValidationFailed))
async def list_accounts(
    request: Request,
    session: Session,
    _: AdminId,
    defaults: DefaultLimits,
    page: Annotated[PageParams, Depends(page_params)],
    email: Annotated[
        str | None,
        Query(min_length=1, max_length=320, description="Only accounts whose email contains this (any case)"),
    ] = None,
    suspended: Annotated[
        bool | None, Query(description="Only suspended accounts (true), or only the others (false)")
    ] = None,
) -> Page[AccountOut]:
    filters = limits.AccountFilter(email=email, suspended=suspended)
    count, rows = await limits.list_accounts(session, filters=filters, page=page, defaults=defaults)
    return paged(request, page, count, [AccountOut.model_validate(r) for r in rows])


@router.get("/accounts/{account_id}/", summary="Get an account", responses=errors(ValidationFailed, NotFound))
async def get_account(
    account_id: AccountIdPath, session: Session, _: AdminId, defaults: DefaultLimits
) -> AccountOut:
    return AccountOut.model_validate(await limits.summary(session, account_id=account_id, defaults=defaults))


@router.get(
    "/accounts/{account_id}/limits/",
    summary="An account's quotas: limits, usage and overrides",
    responses=errors(ValidationFailed, NotFound),
)
async def get_limits(
    account_id: AccountIdPath, session: Session, _: AdminId, defaults: DefaultLimits
) -> LimitsOut:
    return LimitsOut.model_validate(await limits.usage(session, account_id=account_id, defaults=defaults))


@router.patch(
    "/accounts/{account_id}/limits/",
    summary="Set an account's quotas (null: back to the default)",
    responses=errors(ValidationFailed, NotFound),
)
async def set_limits(
    account_id: AccountIdPath, body: LimitsIn, session: Session, operator_id: AdminId, defaults: DefaultLimits
) -> LimitsOut:
    changes = {limits.Resource(f): getattr(body, f) for f in body.model_fields_set}
    usage = await operators.set_limits(
        session, account_id=account_id, changes=changes, defaults=defaults, actor_id=operator_id
    )
    return LimitsOut.model_validate(usage)


@router.get(
    "/accounts/{account_id}/ledger/",
    summary="An account's ledger, newest first",
    responses=errors(ValidationFailed, NotFound),
)
async def get_ledger(
    account_id: AccountIdPath,
    request: Request,
    session: Session,
    _: AdminId,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[LedgerEntryOut]:
    await accounts.get_account(session, account_id=account_id)  # 404 for an unknown account
    count, rows = await billing.list_ledger(session, account_id=account_id, page=page)
    return paged(request, page, count, [LedgerEntryOut.model_validate(e, from_attributes=True) for e in rows])


@router.post(
    "/accounts/{account_id}/credit/",
    status_code=201,
    summary="Add (or take away) credit",
    responses=errors(ValidationFailed, NotFound) | idempotency.RESPONSES,
)
async def credit_account(
    account_id: AccountIdPath,
    body: CreditIn,
    request: Request,
    response: Response,
    session: Session,
    operator_id: AdminId,
    idempotency_key: idempotency.Key = None,
) -> LedgerEntryOut:
    async def run() -> LedgerEntryOut:
        entry = await operators.credit(
            session,
            account_id=account_id,
            amount=Decimal(body.amount),
            reason=body.reason,
            kind=EntryKind(body.kind) if body.kind else None,
            actor_id=operator_id,
        )
        return LedgerEntryOut.model_validate(entry, from_attributes=True)

    return await idempotency.once(
        request, response, session, account_id=operator_id, key=idempotency_key, status_code=201, run=run
    )


@router.post(
    "/accounts/{account_id}/suspend/",
    summary="Suspend an account: its servers, and its creates (403 account_suspended)",
    responses=errors(ValidationFailed, NotFound),
)
async def suspend_account(
    account_id: AccountIdPath,
    body: AccountSuspendIn,
    session: Session,
    operator_id: AdminId,
    defaults: DefaultLimits,
) -> AccountSuspensionOut:
    done = await operators.suspend(
        session, account_id=account_id, reason=body.reason, defaults=defaults, actor_id=operator_id
    )
    return _suspension(done)


@router.post(
    "/accounts/{account_id}/unsuspend/",
    summary="Lift an account's suspension (its servers too, while its balance is above zero)",
    responses=errors(ValidationFailed, NotFound),
)
async def unsuspend_account(
    account_id: AccountIdPath,
    session: Session,
    operator_id: AdminId,
    defaults: DefaultLimits,
    body: ReasonIn | None = None,
) -> AccountSuspensionOut:
    done = await operators.unsuspend(
        session,
        account_id=account_id,
        reason=(body or ReasonIn()).reason,
        defaults=defaults,
        actor_id=operator_id,
    )
    return _suspension(done)


def _suspension(done: operators.AccountSuspension) -> AccountSuspensionOut:
    return AccountSuspensionOut(
        account=AccountOut.model_validate(done.account),
        actions=[ActionOut.model_validate(a, from_attributes=True) for a in done.actions],
    )


@router.get(
    "/audit/", summary="The audit log: operators' actions, newest first", responses=errors(ValidationFailed)
)
async def list_audit(
    request: Request,
    session: Session,
    _: AdminId,
    page: Annotated[PageParams, Depends(page_params)],
    action: Annotated[AuditAction | None, Query(description="Only this action")] = None,
    actor: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this operator's (account id)")
    ] = None,
    target_type: Annotated[
        TargetType | None, Query(description="Only actions on this kind of object")
    ] = None,
    target_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only actions on the object with this id")
    ] = None,
) -> Page[AuditEntryOut]:
    filters = audit.AuditFilter(action=action, actor_id=actor, target_type=target_type, target_id=target_id)
    count, rows = await audit.list_entries(session, filters=filters, page=page)
    return paged(request, page, count, [AuditEntryOut.model_validate(r) for r in rows])


@router.get(
    "/actions/{action_id}/", summary="Get any account's action", responses=errors(ValidationFailed, NotFound)
)
async def get_action(
    action_id: inputs.PathId,
    session: Session,
    _: AdminId,
) -> ActionOut:
    action = await actions.get_action(session, account_id=None, action_id=action_id)
    return ActionOut.model_validate(action, from_attributes=True)


@router.post(
    "/servers/{server_id}/suspend/",
    summary="Suspend a server",
    responses=errors(ValidationFailed, InvalidState, NotFound),
)
async def suspend_server(
    server_id: ServerIdPath, session: Session, operator_id: AdminId, body: ReasonIn | None = None
) -> SuspensionResult:
    server, action = await admin.suspend_server(
        session, server_id=server_id, reason=(body or ReasonIn()).reason, actor_id=operator_id
    )
    return _result(server, action)


@router.post(
    "/servers/{server_id}/unsuspend/",
    summary="Lift a server's suspension",
    responses=errors(ValidationFailed, InvalidState, NotFound),
)
async def unsuspend_server(
    server_id: ServerIdPath, session: Session, operator_id: AdminId, body: ReasonIn | None = None
) -> SuspensionResult:
    server, action = await admin.unsuspend_server(
        session, server_id=server_id, reason=(body or ReasonIn()).reason, actor_id=operator_id
    )
    return _result(server, action)


def _result(server: Any, action: Any) -> SuspensionResult:
    return SuspensionResult(
        server=_brief(server),
        action=ActionRef.model_validate(action, from_attributes=True) if action is not None else None,
    )


# -- the fleet -------------------------------------------------------------------------------

HostIdPath = inputs.PathId


@router.get("/hosts/", summary="List hosts", responses=errors(ValidationFailed))
async def list_hosts(
    request: Request,
    session: Session,
    _: AdminId,
    down_after: HostDownSeconds,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[HostOut]:
    count, rows = await admin.list_hosts(session, page=page, down_after=down_after)
    return paged(request, page, count, [HostOut.model_validate(r) for r in rows])


@router.get("/hosts/{host_id}/", summary="Get a host", responses=errors(ValidationFailed, NotFound))
async def get_host(host_id: HostIdPath, session: Session, _: AdminId, down_after: HostDownSeconds) -> HostOut:
    return HostOut.model_validate(await admin.host_detail(session, host_id=host_id, down_after=down_after))


async def _set_state(
    session: Any, host_id: int, state: HostState, down_after: float, operator_id: int
) -> HostOut:
    return HostOut.model_validate(
        await admin.set_host_state(
            session, host_id=host_id, state=state, down_after=down_after, actor_id=operator_id
        )
    )


@router.post(
    "/hosts/{host_id}/enable/",
    summary="Enable a host: it takes new servers",
    responses=errors(ValidationFailed, NotFound),
)
async def enable_host(
    host_id: HostIdPath, session: Session, operator_id: AdminId, down_after: HostDownSeconds
) -> HostOut:
    return await _set_state(session, host_id, HostState.ENABLED, down_after, operator_id)


@router.post(
    "/hosts/{host_id}/disable/",
    summary="Disable a host: it takes no new servers (its servers stay)",
    responses=errors(ValidationFailed, NotFound),
)
async def disable_host(
    host_id: HostIdPath, session: Session, operator_id: AdminId, down_after: HostDownSeconds
) -> HostOut:
    return await _set_state(session, host_id, HostState.DISABLED, down_after, operator_id)


@router.post(
    "/hosts/{host_id}/drain/",
    summary="Drain a host: take no new servers, migrate every server away, one at a time",
    responses=errors(ValidationFailed, NotFound),
)
async def drain_host(
    host_id: HostIdPath,
    session: Session,
    operator_id: AdminId,
    down_after: HostDownSeconds,
    placement: Placement,
) -> DrainResult:
    host, drained = await admin.drain_host(
        session, host_id=host_id, policy=placement, down_after=down_after, actor_id=operator_id
    )
    return DrainResult(
        host=HostOut.model_validate(host),
        queued=[
            DrainedServer(
                server=_brief(server), action=ActionRef.model_validate(action, from_attributes=True)
            )
            for server, action in drained.queued
        ],
        failed=[LeftServer(server=_brief(server), error=error) for server, error in drained.failed],
    )


@router.get("/servers/", summary="List every account's servers", responses=errors(ValidationFailed))
async def list_servers(
    request: Request,
    session: Session,
    _: AdminId,
    page: Annotated[PageParams, Depends(page_params)],
    account: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Filter by account id")] = None,
    host: Annotated[str | None, Query(min_length=1, max_length=63, description="Filter by host name")] = None,
    status: Annotated[ServerStatus | None, Query(description="Filter by status")] = None,
    location: Annotated[
        str | None, Query(min_length=1, max_length=40, description="Filter by location code")
    ] = None,
) -> Page[AdminServer]:
    filters = admin.ServerFilter(account_id=account, host=host, status=status, location=location)
    count, rows = await admin.list_servers(session, filters=filters, page=page)
    return paged(request, page, count, [AdminServer.model_validate(r) for r in rows])


@router.get(
    "/servers/{server_id}/",
    summary="Get any account's server, with its host and latest actions",
    responses=errors(ValidationFailed, NotFound),
)
async def get_server(server_id: ServerIdPath, session: Session, _: AdminId) -> AdminServerDetail:
    found = await admin.server_detail(session, server_id=server_id)
    found["actions"] = [ActionOut.model_validate(a, from_attributes=True) for a in found["actions"]]
    return AdminServerDetail.model_validate(found)


@router.post(
    "/servers/{server_id}/migrate/",
    summary="Move a server to another host of its location (a cold migration)",
    responses=errors(ValidationFailed, InvalidState, NotFound, CapacityExhausted),
)
async def migrate_server(
    server_id: ServerIdPath,
    session: Session,
    operator_id: AdminId,
    placement: Placement,
    body: MigrateIn | None = None,
) -> MigrationResult:
    server, action, target = await admin.migrate_server(
        session, server_id=server_id, to=(body or MigrateIn()).host, policy=placement, actor_id=operator_id
    )
    return MigrationResult(
        server=_brief(server), action=ActionRef.model_validate(action, from_attributes=True), host=target.name
    )


def _brief(server: Any) -> ServerBrief:
    return ServerBrief(id=server.id, name=server.name, status=ServerStatus(server.status))
