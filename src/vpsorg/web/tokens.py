"""The customer's API tokens: list, create, revoke (vpsorg.tokens.service, as the API).

A session creates tokens as a token of its scope would (Viewer.scope: admin for an
operator, else write), so the API's rule refuses an admin token to a customer. A new
token's secret is in the page that answers the form and nowhere else: not stored, not in a
URL, and that page is not cached."""

import re
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from vpsorg import clock, inputs
from vpsorg.accounts.models import ApiToken
from vpsorg.accounts.service import Scope
from vpsorg.deps import Session
from vpsorg.errors import AppError
from vpsorg.pagination import PageParams
from vpsorg.tokens import service as tokens
from vpsorg.tokens.schemas import TokenCreate
from vpsorg.web import refusals
from vpsorg.web.auth import SignedIn
from vpsorg.web.templating import render, url

router = APIRouter(prefix="/tokens", include_in_schema=False)

PAGE_SIZE = 50
NOTICES = {"revoked": "The token was revoked: it no longer works."}
PageNumber = Annotated[int, Query(ge=1, le=10_000_000)]
DIGITS = re.compile(r"[0-9]{1,9}")


async def _page(
    request: Request,
    session: Session,
    viewer: SignedIn,
    *,
    page: int = 1,
    status: int = 200,
    form: dict[str, str] | None = None,
    refusal: refusals.Refusal | None = None,
    notice: str | None = None,
    created: tuple[ApiToken, str] | None = None,
) -> Response:
    params = PageParams(page=page, page_size=PAGE_SIZE)
    count, rows = await tokens.list_tokens(session, account_id=viewer.account_id, page=params)
    return render(
        request,
        "tokens/list.html",
        viewer,
        section="tokens",
        status_code=status,
        headers={"Cache-Control": "no-store"} if created else None,
        tokens=rows,
        count=count,
        page=page,
        pages=max(1, -(-count // PAGE_SIZE)),
        now=clock.now(),
        scopes=[s for s in Scope if viewer.scope.allows(s)],
        form=form or {"name": "", "scope": "write", "expires_in_days": ""},
        refusal=refusal,
        notice=notice,
        created=created,
    )


@router.get("/")
async def list_page(
    request: Request, session: Session, viewer: SignedIn, page: PageNumber = 1, done: str = ""
) -> Response:
    return await _page(request, session, viewer, page=page, notice=NOTICES.get(done))


def _days(value: str) -> int | str | None:
    """The expiry field: empty is never; digits a number of days; anything else is left for
    the schema to refuse in words."""
    value = value.strip()
    if not value:
        return None
    return int(value) if DIGITS.fullmatch(value) else value


@router.post("/")
async def create(
    request: Request,
    session: Session,
    viewer: SignedIn,
    name: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "write",
    expires_in_days: Annotated[str, Form()] = "",
) -> Response:
    form = {"name": name, "scope": scope, "expires_in_days": expires_in_days}
    try:
        body = refusals.parse(
            TokenCreate, {"name": name, "scope": scope, "expires_in_days": _days(expires_in_days)}
        )
        created = await tokens.create_token(
            session,
            account_id=viewer.account_id,
            caller_scope=viewer.scope,
            name=body.name,
            scope=body.scope,
            expires_in_days=body.expires_in_days,
        )
    except AppError as exc:
        refused = refusals.refusal(exc)
        return await _page(request, session, viewer, status=refused.status, form=form, refusal=refused)
    return await _page(request, session, viewer, status=201, created=created)


@router.post("/{token_id}/revoke")
async def revoke(token_id: inputs.PathId, request: Request, session: Session, viewer: SignedIn) -> Response:
    await tokens.revoke_token(session, account_id=viewer.account_id, token_id=token_id)
    return RedirectResponse(url(request, "/tokens/?done=revoked"), status_code=303)
