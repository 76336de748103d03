"""What the operators' pages share: the way back after a form, its notice, form values, pages."""

from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.errors import AppError, ValidationFailed
from vpsorg.pagination import PageParams
from vpsorg.web.templating import url

PAGE_SIZE = 50

# What a page says after a form's redirect (?done=...): fixed words, never text from the URL.
DONE = {
    "credited": "Credit added; the ledger below shows the entry.",
    "limits": "Limits saved.",
    "suspended": "Server suspended; its suspend action is queued.",
    "unsuspended": "Suspension lifted; the server is on its way back.",
    "enabled": "Host enabled: it takes new servers.",
    "disabled": "Host disabled: it takes no new servers (its servers stay).",
    "drained": "Host draining: it takes no new servers and its servers are migrating away.",
    "account-suspended": "Account suspended, with its servers.",
    "account-unsuspended": "Account suspension lifted.",
}


# A notice's query parameters: a page's links and the way back leave them out.
NOTICE = frozenset({"done", "queued", "failed"})


def notice(done: str | None) -> str | None:
    return DONE.get(done or "")


def back_to(value: str | None, default: str) -> str:
    """Where a form leads back to: an operators' page of this site only."""
    if value and value.startswith("/admin/") and "//" not in value and "\\" not in value:
        return value
    return default


def here(request: Request) -> str:
    """This page's path and query (without its notice), for a form to lead back to."""
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k not in NOTICE])
    path = request.url.path.removeprefix(request.scope.get("root_path", ""))
    return f"{path}?{query}" if query else path


def redirect(request: Request, path: str, **query: Any) -> RedirectResponse:
    """303 to an operators' page, with `query` added to the query it has."""
    if query:
        path += ("&" if "?" in path else "?") + urlencode(query)
    return RedirectResponse(url(request, path), status_code=303)


async def attempt(session: AsyncSession, change: Callable[[], Awaitable[Any]]) -> AppError | None:
    """Run a form's change; a refusal is returned (to show in words) with the transaction rolled
    back, so that nothing the service had flushed before refusing is committed."""
    try:
        await change()
    except AppError as exc:
        await session.rollback()
        return exc
    return None


def reason_of(text: str) -> str:
    reason = text.strip()
    if not reason:
        raise ValidationFailed.field("reason", "give a reason (it is kept with the change)")
    return reason


def amount_of(text: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise ValidationFailed.field("amount", "must be a number such as 25.00 (negative to debit)") from None


def whole_or_none(name: str, text: str) -> int | None:
    """A form's whole number; empty: None."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 10:
        raise ValidationFailed.field(name, "must be a whole number")
    return int(text)


def page_of(number: int) -> PageParams:
    return PageParams(page=number, page_size=PAGE_SIZE)


def pager(request: Request, params: PageParams, count: int) -> dict[str, str | None]:
    """Links to the previous and next pages, keeping the other query parameters."""

    def link(number: int) -> str:
        query = {k: v for k, v in request.query_params.items() if k != "page" and k not in NOTICE}
        return "?" + urlencode(query | {"page": number})

    last = max(1, -(-count // params.page_size))
    return {
        "previous": link(params.page - 1) if params.page > 1 else None,
        "next": link(params.page + 1) if params.page < last else None,
        "label": f"Page {params.page} of {last}",
    }
