"""The operators' audit log: who did what, to what, when; filtered by action or target."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from vpsorg.admin import audit
from vpsorg.admin.audit import AuditAction, TargetType
from vpsorg.deps import Session
from vpsorg.errors import AppError, ValidationFailed
from vpsorg.web.admin import common
from vpsorg.web.auth import Operator
from vpsorg.web.templating import render

router = APIRouter(prefix="/audit")

ACTIONS = [a.value for a in AuditAction]
TARGETS = [t.value for t in TargetType]
# Where an entry's target is shown (hosts and tokens have no page of their own).
TARGET_PAGES = {
    TargetType.ACCOUNT.value: "/admin/accounts/{}/",
    TargetType.SERVER.value: "/admin/servers/{}/",
}
FilterText = Annotated[str, Query(max_length=40)]


def _filters(action: str, target_type: str, target_id: str) -> audit.AuditFilter:
    """The query's filters (empty: any); a target id goes with its type."""
    if action and action not in ACTIONS:
        raise ValidationFailed.field("action", f"no action {action!r}")
    if target_type and target_type not in TARGETS:
        raise ValidationFailed.field("target_type", f"no target type {target_type!r}")
    target = common.whole_or_none("target_id", target_id)
    if target is not None and not target_type:
        raise ValidationFailed.field("target_id", "give the target's type too")
    return audit.AuditFilter(
        action=AuditAction(action) if action else None,
        target_type=TargetType(target_type) if target_type else None,
        target_id=target,
    )


@router.get("/")
async def list_page(
    request: Request,
    session: Session,
    viewer: Operator,
    action: FilterText = "",
    target_type: FilterText = "",
    target_id: FilterText = "",
    page: Annotated[int, Query(ge=1, le=10_000_000)] = 1,
) -> Response:
    params = common.page_of(page)
    count, rows, refused = 0, list[dict[str, Any]](), None
    try:
        count, rows = await audit.list_entries(
            session, filters=_filters(action, target_type, target_id), page=params
        )
    except AppError as exc:
        refused = exc
    for entry in rows:
        page_of = TARGET_PAGES.get(entry["target_type"])
        entry["target_page"] = page_of.format(entry["target_id"]) if page_of else None
    return render(
        request,
        "admin/audit.html",
        viewer,
        status_code=refused.status_code if refused else 200,
        section="admin",
        count=count,
        entries=rows,
        actions=ACTIONS,
        sent={"action": action, "target_type": target_type, "target_id": target_id},
        pager=common.pager(request, params, count),
        error=refused.message if refused else None,
    )
