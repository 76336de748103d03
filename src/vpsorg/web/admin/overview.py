"""The operators' overview: where to go, and what failed lately."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vpsorg.actions import service as actions
from vpsorg.deps import Session
from vpsorg.web.auth import Operator
from vpsorg.web.templating import render

router = APIRouter()

RECENT_FAILURES = 20


@router.get("/")
async def overview(request: Request, session: Session, viewer: Operator) -> Response:
    failures = await actions.recent_failures(session, limit=RECENT_FAILURES)
    return render(request, "admin/overview.html", viewer, section="admin", failures=failures)
