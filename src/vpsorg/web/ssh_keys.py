"""The customer's SSH keys: list, add, delete (vpsorg.ssh_keys.service, as the API)."""

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from vpsorg import inputs
from vpsorg.deps import DefaultLimits, Session
from vpsorg.errors import AppError
from vpsorg.pagination import PageParams
from vpsorg.ssh_keys import service as ssh_keys
from vpsorg.ssh_keys.schemas import SshKeyCreate
from vpsorg.web import refusals
from vpsorg.web.auth import SignedIn
from vpsorg.web.templating import render, url

router = APIRouter(prefix="/ssh-keys", include_in_schema=False)

PAGE_SIZE = 50
NOTICES = {"added": "The key was added.", "deleted": "The key was deleted."}
PageNumber = Annotated[int, Query(ge=1, le=10_000_000)]


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
) -> Response:
    params = PageParams(page=page, page_size=PAGE_SIZE)
    count, keys = await ssh_keys.list_keys(session, account_id=viewer.account_id, page=params)
    return render(
        request,
        "ssh_keys/list.html",
        viewer,
        section="ssh-keys",
        status_code=status,
        keys=keys,
        count=count,
        page=page,
        pages=max(1, -(-count // PAGE_SIZE)),
        form=form or {"name": "", "public_key": ""},
        refusal=refusal,
        notice=notice,
    )


@router.get("/")
async def list_page(
    request: Request, session: Session, viewer: SignedIn, page: PageNumber = 1, done: str = ""
) -> Response:
    return await _page(request, session, viewer, page=page, notice=NOTICES.get(done))


@router.post("/")
async def add(
    request: Request,
    session: Session,
    viewer: SignedIn,
    defaults: DefaultLimits,
    name: Annotated[str, Form()] = "",
    public_key: Annotated[str, Form()] = "",
) -> Response:
    try:
        body = refusals.parse(SshKeyCreate, {"name": name, "public_key": public_key})
        await ssh_keys.create_key(
            session,
            account_id=viewer.account_id,
            name=body.name,
            public_key=body.public_key,
            defaults=defaults,
        )
    except AppError as exc:
        refused = refusals.refusal(exc)
        form = {"name": name, "public_key": public_key}
        return await _page(request, session, viewer, status=refused.status, form=form, refusal=refused)
    return RedirectResponse(url(request, "/ssh-keys/?done=added"), status_code=303)


@router.post("/{key_id}/delete")
async def delete(key_id: inputs.PathId, request: Request, session: Session, viewer: SignedIn) -> Response:
    await ssh_keys.delete_key(session, account_id=viewer.account_id, key_id=key_id)
    return RedirectResponse(url(request, "/ssh-keys/?done=deleted"), status_code=303)
