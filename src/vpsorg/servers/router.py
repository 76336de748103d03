from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, WithJsonSchema

from vpsorg import deps, inputs
from vpsorg.accounts import service as accounts
from vpsorg.actions import service as actions
from vpsorg.actions.models import Action
from vpsorg.actions.schemas import ActionOut, ActionRef
from vpsorg.deps import AccountId, Admission, DefaultLimits, HotPath, Placement, Session, Token
from vpsorg.errors import (
    AUTH_RESPONSES,
    AccountSuspended,
    CapacityExhausted,
    InvalidState,
    NotFound,
    PaymentRequired,
    QuotaExceeded,
    ValidationFailed,
    errors,
)
from vpsorg.http import idempotency
from vpsorg.http.pagination import keyset_paged, keyset_params, page_params, paged
from vpsorg.pagination import KeysetParams, Page, PageParams
from vpsorg.servers import rebuild as rebuilds
from vpsorg.servers import resize
from vpsorg.servers import service as servers
from vpsorg.servers.labels import MAX_TERMS, SELECTOR_PATTERN
from vpsorg.servers.models import Server
from vpsorg.servers.schemas import (
    PowerActionResult,
    ServerBrief,
    ServerCreate,
    ServerCreated,
    ServerDetail,
    ServerDryRun,
    ServerPatch,
    ServerRebuild,
    ServerReplace,
    ServerResize,
    ServerSummary,
)
from vpsorg.servers.states import TRANSITIONS, ActionStatus, ActionType, ServerStatus

router = APIRouter(
    prefix="/api/v1/servers", tags=["servers"], responses=AUTH_RESPONSES, route_class=inputs.LimitedRoute
)

ServerId = inputs.PathId
# Checked by the service (in words; the pattern has a lookahead, which pydantic's regex lacks).
LabelSelector = Annotated[str, WithJsonSchema({"type": "string", "pattern": SELECTOR_PATTERN})]
_SUMMARIES = TypeAdapter(list[ServerSummary])  # a page's rows validated in one call


def _accepted(kind: ActionType, server: Server, action: Action) -> PowerActionResult:
    """The answer to an action a customer asked for: its message, the server, the action."""
    return PowerActionResult(
        status="success",
        message=TRANSITIONS[kind].message,
        server=ServerBrief(id=server.id, name=server.name, status=ServerStatus(server.status)),
        action=ActionRef.model_validate(action, from_attributes=True),
    )


@router.get("/", summary="List all servers", responses=errors(ValidationFailed))
async def list_servers(
    request: Request,
    reads: HotPath,
    account_id: AccountId,
    page: Annotated[KeysetParams, Depends(keyset_params)],
    status: Annotated[ServerStatus | None, Query(description="Filter by status")] = None,
    location: Annotated[str | None, Query(max_length=40, description="Filter by location code")] = None,
    label_selector: Annotated[
        LabelSelector | None,
        Query(
            description="Filter by labels: comma-separated terms that must all hold, as Hetzner's: "
            "`k=v` or `k==v` (the label k has the value v), `k!=v` (it has another value or is "
            "not there), `k` (the server has the label k), `!k` (it has not). No whitespace; "
            f"at most {MAX_TERMS} terms. Example: `env=prod,tier,!deprecated`",
        ),
    ] = None,
) -> Page[ServerSummary]:
    count, rows = await servers.list_servers(
        reads,
        account_id=account_id,
        status=status,
        location=location,
        page=page,
        label_selector=label_selector,
    )
    return keyset_paged(request, page, count, _SUMMARIES.validate_python(rows))


DRY_RUN = (
    "true: check everything the create checks (the body, the quota, the credit, the location's "
    "capacity and addresses, the account's suspension) and create nothing: 200 with the prices "
    "and the location, or the very error the create would answer. An Idempotency-Key is "
    "ignored by a dry run (neither replayed nor stored). false (the default): create."
)


@router.post(
    "/",
    status_code=201,
    response_model=ServerCreated,
    summary="Create a new server",
    responses=errors(
        ValidationFailed, NotFound, PaymentRequired, QuotaExceeded, AccountSuspended, CapacityExhausted
    )
    | idempotency.RESPONSES
    | {
        200: {"model": ServerDryRun, "description": "A dry run (`dry_run=true`): the create would succeed"},
        201: {"headers": {"Location": {"description": "The new server's URL", "schema": {"type": "string"}}}},
    },
)
async def create_server(
    body: ServerCreate,
    request: Request,
    response: Response,
    session: Session,
    account_id: AccountId,
    defaults: DefaultLimits,
    placement: Placement,
    idempotency_key: idempotency.Key = None,
    dry_run: Annotated[bool, Query(description=DRY_RUN)] = False,
) -> ServerCreated | JSONResponse:
    if dry_run:
        deps.queued_nothing(request)
        quote = await servers.quote_server(
            session, account_id=account_id, data=body, defaults=defaults, policy=placement
        )
        answer = ServerDryRun(
            would_create=True,
            monthly_price=quote.monthly_price,
            hourly_price=quote.hourly_price,
            location=quote.location,
        )
        return JSONResponse(jsonable_encoder(answer), status_code=200)

    async def run() -> ServerCreated:
        order = await servers.order_server(
            session, account_id=account_id, data=body, defaults=defaults, policy=placement
        )
        response.headers["Location"] = str(request.url_for("get_server", server_id=order.server_id))
        return ServerCreated.model_validate(
            order.detail
            | {
                "message": TRANSITIONS[ActionType.CREATE].message,
                "action": {"id": order.action_id, "type": ActionType.CREATE, "status": ActionStatus.QUEUED},
            }
        )

    return await idempotency.once(
        request, response, session, account_id=account_id, key=idempotency_key, status_code=201, run=run
    )


async def _detail_for_token(request: Request, reads: HotPath, token: Token, admit: Admission) -> Any:
    """The server's detail and the token's check in one query (see get_detail_by_token). A
    dependency: it runs, and admits or refuses the token, even where the path's id is invalid
    (then FastAPI answers 400 after it, as every authenticated route does)."""
    server_id = inputs.path_id(request.path_params.get("server_id"))
    if server_id is None:
        await admit(await accounts.authenticate(reads, token=token))
        return None
    return await servers.get_detail_by_token(reads, token=token, server_id=server_id, admit=admit)


@router.get("/{server_id}/", summary="Get server details", responses=errors(ValidationFailed, NotFound))
async def get_server(
    server_id: ServerId, found: Annotated[dict[str, Any], Depends(_detail_for_token)]
) -> ServerDetail:
    return ServerDetail.model_validate(found)


@router.put(
    "/{server_id}/",
    summary="Update a server (all fields)",
    responses=errors(ValidationFailed, NotFound, PaymentRequired),
)
async def replace_server(
    server_id: ServerId, body: ServerReplace, session: Session, account_id: AccountId
) -> ServerDetail:
    await servers.update_server(session, account_id=account_id, server_id=server_id, data=body)
    return ServerDetail.model_validate(
        await servers.get_detail(session, account_id=account_id, server_id=server_id)
    )


@router.patch(
    "/{server_id}/",
    summary="Update some fields of a server",
    responses=errors(ValidationFailed, NotFound, PaymentRequired),
)
async def patch_server(
    server_id: ServerId, body: ServerPatch, session: Session, account_id: AccountId
) -> ServerDetail:
    await servers.update_server(session, account_id=account_id, server_id=server_id, data=body)
    return ServerDetail.model_validate(
        await servers.get_detail(session, account_id=account_id, server_id=server_id)
    )


@router.delete(
    "/{server_id}/",
    status_code=204,
    response_class=Response,
    summary="Delete a server",
    responses=errors(ValidationFailed, NotFound),
)
async def delete_server(server_id: ServerId, session: Session, account_id: AccountId) -> Response:
    await servers.delete_server(session, account_id=account_id, server_id=server_id)
    return Response(status_code=204)


async def _power(
    server_id: int,
    request: Request,
    response: Response,
    session: Any,
    account_id: int,
    key: str | None,
    type: ActionType,
) -> PowerActionResult:
    if (await request.body()).strip():
        raise ValidationFailed.field("body", "a power action takes no body; send none (or an empty one)")

    async def run() -> PowerActionResult:
        server, action = await servers.request_power(
            session, account_id=account_id, server_id=server_id, type=type
        )
        return _accepted(type, server, action)

    return await idempotency.once(
        request, response, session, account_id=account_id, key=key, status_code=200, run=run
    )


POWER_ERRORS = idempotency.RESPONSES | errors(InvalidState, NotFound)


@router.post("/{server_id}/start/", summary="Start a stopped server", responses=POWER_ERRORS)
async def start_server(
    server_id: ServerId,
    request: Request,
    response: Response,
    session: Session,
    account_id: AccountId,
    idempotency_key: idempotency.Key = None,
) -> PowerActionResult:
    return await _power(server_id, request, response, session, account_id, idempotency_key, ActionType.START)


@router.post("/{server_id}/stop/", summary="Gracefully shut down a running server", responses=POWER_ERRORS)
async def stop_server(
    server_id: ServerId,
    request: Request,
    response: Response,
    session: Session,
    account_id: AccountId,
    idempotency_key: idempotency.Key = None,
) -> PowerActionResult:
    return await _power(server_id, request, response, session, account_id, idempotency_key, ActionType.STOP)


@router.post("/{server_id}/reboot/", summary="Gracefully restart a running server", responses=POWER_ERRORS)
async def reboot_server(
    server_id: ServerId,
    request: Request,
    response: Response,
    session: Session,
    account_id: AccountId,
    idempotency_key: idempotency.Key = None,
) -> PowerActionResult:
    return await _power(server_id, request, response, session, account_id, idempotency_key, ActionType.REBOOT)


@router.post(
    "/{server_id}/rebuild/",
    summary="Reinstall a server from an OS image (everything on its disk is erased)",
    responses=POWER_ERRORS | errors(ValidationFailed),
)
async def rebuild_server(
    server_id: ServerId,
    body: ServerRebuild,
    request: Request,
    response: Response,
    session: Session,
    account_id: AccountId,
    idempotency_key: idempotency.Key = None,
) -> PowerActionResult:
    async def run() -> PowerActionResult:
        server, action = await rebuilds.request_rebuild(
            session, account_id=account_id, server_id=server_id, data=body
        )
        return _accepted(ActionType.REBUILD, server, action)

    return await idempotency.once(
        request, response, session, account_id=account_id, key=idempotency_key, status_code=200, run=run
    )


@router.post(
    "/{server_id}/resize/",
    summary="Give a stopped server another plan (vCPUs, memory; the disk only grows)",
    responses=POWER_ERRORS | errors(ValidationFailed, PaymentRequired, CapacityExhausted),
)
async def resize_server(
    server_id: ServerId,
    body: ServerResize,
    request: Request,
    response: Response,
    session: Session,
    account_id: AccountId,
    idempotency_key: idempotency.Key = None,
) -> PowerActionResult:
    async def run() -> PowerActionResult:
        server, action = await resize.request_resize(
            session, account_id=account_id, server_id=server_id, plan_id=body.plan_id
        )
        return _accepted(ActionType.RESIZE, server, action)

    return await idempotency.once(
        request, response, session, account_id=account_id, key=idempotency_key, status_code=200, run=run
    )


@router.get(
    "/{server_id}/actions/", summary="List a server's actions", responses=errors(ValidationFailed, NotFound)
)
async def list_server_actions(
    server_id: ServerId,
    request: Request,
    session: Session,
    account_id: AccountId,
    page: Annotated[PageParams, Depends(page_params)],
) -> Page[ActionOut]:
    await servers.ensure_visible(session, account_id=account_id, server_id=server_id)
    count, rows = await actions.list_for_server(session, server_id=server_id, page=page)
    return paged(request, page, count, [ActionOut.model_validate(a, from_attributes=True) for a in rows])
