"""The customer's servers."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vpsorg.deps import HotPath
from vpsorg.pagination import KeysetParams
from vpsorg.servers import service as servers
from vpsorg.web.auth import SignedIn
from vpsorg.web.templating import render

router = APIRouter(prefix="/servers", include_in_schema=False)

PAGE_SIZE = 50


@router.get("/")
async def list_page(request: Request, reads: HotPath, viewer: SignedIn) -> Response:
    count, rows = await servers.list_servers(
        reads,
        account_id=viewer.account_id,
        status=None,
        location=None,
        page=KeysetParams(page=1, page_size=PAGE_SIZE),
    )
    return render(
        request, "servers/list.html", viewer, section="servers", count=count, servers=rows[:PAGE_SIZE]
    )
