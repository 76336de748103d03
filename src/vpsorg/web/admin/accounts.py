"""Operators' accounts: the list searched by email, an account's page (servers, ledger,
limits); credit, limits, suspension. Every change goes through vpsorg.admin.accounts, which
records it in the audit log with the operator as its actor."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from vpsorg import inputs
from vpsorg.accounts import limits
from vpsorg.accounts.logins import Viewer
from vpsorg.admin import accounts as operators
from vpsorg.admin import service as admin
from vpsorg.billing import service as billing
from vpsorg.billing.models import EntryKind
from vpsorg.deps import DefaultLimits, Session
from vpsorg.errors import AppError, ValidationFailed
from vpsorg.pagination import PageParams
from vpsorg.web.admin import common
from vpsorg.web.auth import Operator
from vpsorg.web.templating import render

router = APIRouter(prefix="/accounts")

RECENT_ENTRIES = 20
CREDIT_KINDS = [EntryKind.TOP_UP, EntryKind.REFUND, EntryKind.ADJUSTMENT]
PageNumber = Annotated[int, Query(ge=1, le=10_000_000)]


@router.get("/")
async def list_page(
    request: Request,
    session: Session,
    viewer: Operator,
    defaults: DefaultLimits,
    email: Annotated[str, Query(max_length=320)] = "",
    page: PageNumber = 1,
) -> Response:
    params = common.page_of(page)
    filters = limits.AccountFilter(email=email.strip() or None)
    count, rows = await limits.list_accounts(session, filters=filters, page=params, defaults=defaults)
    return render(
        request,
        "admin/accounts.html",
        viewer,
        section="admin",
        count=count,
        accounts=rows,
        email=email,
        pager=common.pager(request, params, count),
    )


async def _account_page(
    request: Request,
    session: Session,
    viewer: Viewer,
    account_id: int,
    defaults: limits.Defaults,
    *,
    refused: AppError | None = None,
    form: str | None = None,
    sent: dict[str, Any] | None = None,
) -> Response:
    """The account's page; after a refused form, with the refusal beside that form (`form`)
    and what was typed into it (`sent`)."""
    account = await limits.summary(session, account_id=account_id, defaults=defaults)
    account["limits"] = await limits.usage(session, account_id=account_id, defaults=defaults)  # overrides
    count, servers = await admin.list_servers(
        session, filters=admin.ServerFilter(account_id=account_id), page=common.page_of(1)
    )
    _, ledger = await billing.list_ledger(
        session, account_id=account_id, page=PageParams(page=1, page_size=RECENT_ENTRIES)
    )
    return render(
        request,
        "admin/account.html",
        viewer,
        status_code=refused.status_code if refused else 200,
        section="admin",
        account=account,
        defaults=defaults,
        server_count=count,
        servers=servers,
        ledger=ledger,
        kinds=CREDIT_KINDS,
        notice=common.notice(request.query_params.get("done")),
        refused=refused.message if refused else None,
        form=form,
        sent=sent or {},
    )


def _kind(text: str) -> EntryKind | None:
    """The form's kind of credit; empty: billing chooses (a top-up, or an adjustment to debit)."""
    if not text:
        return None
    if text not in CREDIT_KINDS:
        raise ValidationFailed.field("kind", "must be top_up, refund or adjustment")
    return EntryKind(text)


@router.get("/{account_id}/")
async def account_page(
    account_id: inputs.PathId, request: Request, session: Session, viewer: Operator, defaults: DefaultLimits
) -> Response:
    return await _account_page(request, session, viewer, account_id, defaults)


@router.post("/{account_id}/credit")
async def credit(
    account_id: inputs.PathId,
    request: Request,
    session: Session,
    viewer: Operator,
    defaults: DefaultLimits,
    amount: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
    kind: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """POST /api/v1/admin/accounts/{id}/credit/'s service, from a form."""

    async def change() -> None:
        await operators.credit(
            session,
            account_id=account_id,
            amount=common.amount_of(amount),
            reason=common.reason_of(reason),
            kind=_kind(kind),
            actor_id=viewer.account_id,
        )

    refused = await common.attempt(session, change)
    if refused is not None:
        sent = {"amount": amount, "reason": reason, "kind": kind}
        return await _account_page(
            request, session, viewer, account_id, defaults, refused=refused, form="credit", sent=sent
        )
    return common.redirect(request, f"/admin/accounts/{account_id}/", done="credited")


@router.post("/{account_id}/limits")
async def set_limits(
    account_id: inputs.PathId,
    request: Request,
    session: Session,
    viewer: Operator,
    defaults: DefaultLimits,
    servers: Annotated[str, Form(max_length=20)] = "",
    ssh_keys: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """PATCH /api/v1/admin/accounts/{id}/limits/'s service, from a form: an empty field sets
    that limit back to the default."""

    async def change() -> None:
        changes = {
            limits.Resource.SERVERS: common.whole_or_none("servers", servers),
            limits.Resource.SSH_KEYS: common.whole_or_none("ssh_keys", ssh_keys),
        }
        await operators.set_limits(
            session, account_id=account_id, changes=changes, defaults=defaults, actor_id=viewer.account_id
        )

    refused = await common.attempt(session, change)
    if refused is not None:
        sent = {"servers": servers, "ssh_keys": ssh_keys}
        return await _account_page(
            request, session, viewer, account_id, defaults, refused=refused, form="limits", sent=sent
        )
    return common.redirect(request, f"/admin/accounts/{account_id}/", done="limits")


# POST /api/v1/admin/accounts/{id}/suspend/ and unsuspend/'s services, from a form.
SUSPENSION = {"suspend": operators.suspend, "unsuspend": operators.unsuspend}


@router.post("/{account_id}/{verb}")
async def suspend_or_unsuspend(
    account_id: inputs.PathId,
    verb: Literal["suspend", "unsuspend"],
    request: Request,
    session: Session,
    viewer: Operator,
    defaults: DefaultLimits,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Suspend an account, or lift its suspension, with the operator's reason."""

    async def change() -> None:
        await SUSPENSION[verb](
            session,
            account_id=account_id,
            reason=common.reason_of(reason),
            defaults=defaults,
            actor_id=viewer.account_id,
        )

    return await _suspension(
        request, session, viewer, account_id, defaults, change, f"account-{verb}ed", reason
    )


async def _suspension(
    request: Request,
    session: Session,
    viewer: Viewer,
    account_id: int,
    defaults: limits.Defaults,
    change: Callable[[], Awaitable[None]],
    done: str,
    reason: str,
) -> Response:
    refused = await common.attempt(session, change)
    if refused is not None:
        return await _account_page(
            request,
            session,
            viewer,
            account_id,
            defaults,
            refused=refused,
            form="suspension",
            sent={"reason": reason},
        )
    return common.redirect(request, f"/admin/accounts/{account_id}/", done=done)
