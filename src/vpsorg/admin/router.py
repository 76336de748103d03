"""The operators' API. Every route needs a token with the admin scope (`vpsorg tokens create
--scope admin`); any other token gets 403."""

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from vpsorg import inputs
from vpsorg.accounts import limits
from vpsorg.accounts.schemas import AccountOut, LedgerEntryOut, Usage
from vpsorg.actions import service as actions
from vpsorg.actions.schemas import ActionOut, ActionRef
from vpsorg.admin import service as admin
from vpsorg.admin.schemas import (
    AdminServer,
    AdminServerDetail,
    DrainedServer,
    DrainResult,
    HostOut,
    LeftServer,
    MigrateIn,
    MigrationResult,
)
from vpsorg.billing import service as billing
from vpsorg.billing.models import EntryKind
from vpsorg.deps import AdminId, DefaultLimits, HostDownSeconds, Placement, Session
from vpsorg.errors import AUTH_RESPONSES, CapacityExhausted, InvalidState, NotFound, ValidationFailed, errors
from vpsorg.hosts.service import HostState
from vpsorg.http import idempotency
from vpsorg.http.pagination import page_params, paged
from vpsorg.pagination import MAX_ID, Page, PageParams
from vpsorg.schemas import RequestModel
from vpsorg.servers.schemas import ServerBrief
from vpsorg.servers.states import ServerStatus

router = APIRouter(
    prefix="/api/v1/admin", tags=["admin"], responses=AUTH_RESPONSES, route_class=inputs.LimitedRoute
)

AccountIdPath = inputs.PathId
ServerIdPath = inputs.PathId
Amount = Annotated[
    str,
    Field(
        pattern=r"^-?\d{1,10}(\.\d{1,2})?$",
        description='A decimal string with at most two decimals, e.g. "25.00"; negative for a debit',
        examples=["25.00"],
    ),
]


class CreditIn(RequestModel):
    amount: Amount
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    kind: Literal["top_up", "refund", "adjustment"] | None = Field(
        default=None, description="Default: top_up for a positive amount, adjustment for a negative one"
    )


class ReasonIn(RequestModel):
    reason: Annotated[str, Field(min_length=1, max_length=500)] = "by an operator"


def _whole(value: Any) -> Any:
    """JSON Schema's integer includes 2.0; strict validation would refuse it (not 2.5, not "2")."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# A limit, or null for the default; documented as one schema (not anyOf), so that its bounds
# are plain to every client and generator.
Limit = Annotated[
    Annotated[int, BeforeValidator(_whole), Field(ge=0, le=limits.MAX_LIMIT)] | None,
    WithJsonSchema({"type": ["integer", "null"], "minimum": 0, "maximum": limits.MAX_LIMIT}),
]


class LimitsIn(RequestModel):
    """Any non-empty subset; null sets a limit back to the default."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    servers: Limit = Field(default=None, description="Servers the account may have; null: the default")
    ssh_keys: Limit = Field(default=None, description="SSH keys the account may have; null: the default")


class LimitOut(Usage):
    override: int | None = Field(description="The account's own limit; null: the default applies")


class LimitsOut(BaseModel):
    servers: LimitOut
    ssh_keys: LimitOut


class SuspensionResult(BaseModel):
    server: ServerBrief
    action: ActionRef | None = Field(description="The action queued, if any")


@router.get("/accounts/", summary="List accounts", responses=errors(ValidationFailed))
async def list_accounts(
    request: Request,
    session: Session,
    _: AdminId,
    defaults: DefaultLimits,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[AccountOut]:
    count, rows = await limits.list_accounts(session, page=page, defaults=defaults)
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
    account_id: AccountIdPath, body: LimitsIn, session: Session, _: AdminId, defaults: DefaultLimits
) -> LimitsOut:
    changes = {limits.Resource(f): getattr(body, f) for f in body.model_fields_set}
    return LimitsOut.model_validate(
        await limits.set_limits(session, account_id=account_id, changes=changes, defaults=defaults)
    )


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
    await billing.summary(session, account_id=account_id)  # 404 for an unknown account
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
        entry = await billing.credit(
            session,
            account_id=account_id,
            amount=Decimal(body.amount),
            reason=body.reason,
            kind=EntryKind(body.kind) if body.kind else None,
        )
        return LedgerEntryOut.model_validate(entry, from_attributes=True)

    return await idempotency.once(
        request, response, session, account_id=operator_id, key=idempotency_key, status_code=201, run=run
    )


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
    server_id: ServerIdPath, session: Session, _: AdminId, body: ReasonIn | None = None
) -> SuspensionResult:
    server, action = await admin.suspend_server(
        session, server_id=server_id, reason=(body or ReasonIn()).reason
    )
    return _result(server, action)


@router.post(
    "/servers/{server_id}/unsuspend/",
    summary="Lift a server's suspension",
    responses=errors(ValidationFailed, InvalidState, NotFound),
)
async def unsuspend_server(
    server_id: ServerIdPath, session: Session, _: AdminId, body: ReasonIn | None = None
) -> SuspensionResult:
    server, action = await admin.unsuspend_server(
        session, server_id=server_id, reason=(body or ReasonIn()).reason
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


async def _set_state(session: Any, host_id: int, state: HostState, down_after: float) -> HostOut:
    return HostOut.model_validate(
        await admin.set_host_state(session, host_id=host_id, state=state, down_after=down_after)
    )


@router.post(
    "/hosts/{host_id}/enable/",
    summary="Enable a host: it takes new servers",
    responses=errors(ValidationFailed, NotFound),
)
async def enable_host(
    host_id: HostIdPath, session: Session, _: AdminId, down_after: HostDownSeconds
) -> HostOut:
    return await _set_state(session, host_id, HostState.ENABLED, down_after)


@router.post(
    "/hosts/{host_id}/disable/",
    summary="Disable a host: it takes no new servers (its servers stay)",
    responses=errors(ValidationFailed, NotFound),
)
async def disable_host(
    host_id: HostIdPath, session: Session, _: AdminId, down_after: HostDownSeconds
) -> HostOut:
    return await _set_state(session, host_id, HostState.DISABLED, down_after)


@router.post(
    "/hosts/{host_id}/drain/",
    summary="Drain a host: take no new servers, migrate every server away, one at a time",
    responses=errors(ValidationFailed, NotFound),
)
async def drain_host(
    host_id: HostIdPath, session: Session, _: AdminId, down_after: HostDownSeconds, placement: Placement
) -> DrainResult:
    host, drained = await admin.drain_host(session, host_id=host_id, policy=placement, down_after=down_after)
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
    server_id: ServerIdPath, session: Session, _: AdminId, placement: Placement, body: MigrateIn | None = None
) -> MigrationResult:
    server, action, target = await admin.migrate_server(
        session, server_id=server_id, to=(body or MigrateIn()).host, policy=placement
    )
    return MigrationResult(
        server=_brief(server), action=ActionRef.model_validate(action, from_attributes=True), host=target.name
    )


def _brief(server: Any) -> ServerBrief:
    return ServerBrief(id=server.id, name=server.name, status=ServerStatus(server.status))
