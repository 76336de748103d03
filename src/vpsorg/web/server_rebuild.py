"""Rebuilding a server from its page: reinstall it from an image or restore one of the
account's snapshots onto it, with the account's keys chosen (the server's current keys by
default), once its name is typed.

The rebuild is the API's (servers.rebuild.request_rebuild, as POST
/api/v1/servers/{id}/rebuild/), read by the same schema (ServerRebuild); a refusal re-renders
the page with the message in words and the API's status.
"""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from vpsorg.deps import HotPath, Session
from vpsorg.errors import AppError, ValidationFailed
from vpsorg.servers import rebuild as rebuilds
from vpsorg.servers import service as servers
from vpsorg.servers.schemas import ServerRebuild
from vpsorg.web import refusals
from vpsorg.web.auth import SignedIn
from vpsorg.web.server_page import back, render_page, server_id_of

router = APIRouter(prefix="/servers", include_in_schema=False)

Text = Annotated[str, Form(max_length=300)]
KeyIds = Annotated[list[str], Form(max_length=64)]


@router.post("/{server_id}/rebuild")
async def rebuild(
    request: Request,
    server_id: str,
    reads: HotPath,
    session: Session,
    viewer: SignedIn,
    confirm_name: Text = "",
    source: Text = "",
    ssh_key_ids: KeyIds = [],  # noqa: B006 (FastAPI copies a default; no box ticked: no keys)
) -> Response:
    """Reinstall the server from `source` (`os:ID`, an image, or `snapshot:ID`, a restore of
    one of the account's snapshots) with the keys ticked (none ticked: none installed), once
    its name is typed (the script checks it too, for the button)."""
    found = server_id_of(server_id)
    server = await servers.get_detail(reads, account_id=viewer.account_id, server_id=found)
    shown = {"confirm_name": confirm_name, "source": source, "ssh_key_ids": ",".join(ssh_key_ids)}
    try:
        if confirm_name.strip() != server["name"]:
            message = f"Type the server's name, {server['name']}, to rebuild it."
            raise ValidationFailed(
                message, details={"fields": [{"name": "confirm_name", "message": message}]}
            )
        body = _source(source) | {"ssh_key_ids": ssh_key_ids}
        data = refusals.parse(ServerRebuild, body, lax=True)
        await rebuilds.request_rebuild(session, account_id=viewer.account_id, server_id=found, data=data)
    except AppError as exc:
        refusal = refusals.refusal(exc)
        return await render_page(
            request, reads, session, viewer, found, refusal=refusal, form="rebuild", values=shown
        )
    return back(request, found)


def _source(source: str) -> dict[str, str]:
    """The body's field the form's choice stands for: snapshot_id for `snapshot:ID`, else
    os_id (`os:ID`; anything else is given as it came, for the schema to refuse in words)."""
    kind, _, found = source.partition(":")
    if kind == "snapshot":
        return {"snapshot_id": found}
    return {"os_id": found if kind == "os" else source}
