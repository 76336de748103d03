"""The customer's servers: the list (filtered, paged, live) and the live parts of a server's page.

Live means fetched again by htmx when one of the account's events says it changed (the page
listens to the panel's event stream: vpsorg.web.live), never polled: a fragment route
answers 204 (htmx swaps nothing) while what it would show is unchanged, so a region is
replaced (and announced, aria-live) only when it changed.
"""

import hashlib
import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from vpsorg.catalog import service as catalog
from vpsorg.deps import HotPath, Session
from vpsorg.errors import ValidationFailed
from vpsorg.http.pagination import keyset_paged
from vpsorg.pagination import Cursor, KeysetParams
from vpsorg.servers import service as servers
from vpsorg.servers.labels import MAX_TERMS
from vpsorg.servers.states import TRANSITIONAL, ServerStatus
from vpsorg.web import live, refusals
from vpsorg.web.auth import SignedIn
from vpsorg.web.templating import render, url

router = APIRouter(prefix="/servers", include_in_schema=False)

PAGE_SIZE = 50
MAX_SELECTOR = MAX_TERMS * 400  # terms of a 317-character key, an operator and a 63-character value
STATUSES = [s.value for s in ServerStatus]
SHOWN = (
    "id",
    "name",
    "status",
    "ip_address",
    "location",
    "labels",
)  # a row's fields the table shows (and its plan)


def digest(*parts: Any) -> str:
    """A short fingerprint of what a live region shows: equal digests, nothing to swap."""
    text = json.dumps(parts, default=str, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class ListQuery:
    """The list's filters and place, as the GET form and the pager links carry them."""

    status: ServerStatus | None
    location: str | None
    name: str | None
    cursor: str | None
    label_selector: str | None = None

    def query(self, **extra: str) -> str:
        """The query string of this list (and `extra`), without empty values."""
        values = {"status": self.status.value if self.status else None, "location": self.location}
        values |= {"name": self.name, "label_selector": self.label_selector, "cursor": self.cursor} | extra
        return urlencode({k: v for k, v in values.items() if v})

    @property
    def filtered(self) -> bool:
        return bool(self.status or self.location or self.name or self.label_selector)


def list_query(
    status: Annotated[str, Query(max_length=20)] = "",
    location: Annotated[str, Query(max_length=40)] = "",
    name: Annotated[str, Query(max_length=63)] = "",
    cursor: Annotated[str, Query(max_length=12)] = "",
    label_selector: Annotated[str, Query(max_length=MAX_SELECTOR)] = "",
) -> ListQuery:
    """The filters; an empty field (the form's "any") filters nothing."""
    if status and status not in STATUSES:
        raise ValidationFailed.field("status", f"no such status {status!r}")
    if cursor:
        Cursor.decode(cursor)  # a malformed one: 400
    return ListQuery(
        status=ServerStatus(status) if status else None,
        location=location.strip() or None,
        name=name.strip() or None,
        cursor=cursor or None,
        label_selector=label_selector.strip() or None,
    )


@dataclass(frozen=True)
class ServerRows:
    count: int
    rows: list[dict[str, Any]]
    next: str | None  # the pager's links, as query strings of this page
    previous: str | None
    busy: bool  # any row on its way to another status
    version: str


def _relative(link: str | None) -> str | None:
    return None if link is None else f"?{urlsplit(link).query}"


async def server_rows(request: Request, reads: HotPath, account_id: int, q: ListQuery) -> ServerRows:
    """One page of the account's servers, through the same service call as GET /api/v1/servers/."""
    page = KeysetParams(page=1, page_size=PAGE_SIZE, cursor=Cursor.decode(q.cursor) if q.cursor else None)
    count, found = await servers.list_servers(
        reads,
        account_id=account_id,
        status=q.status,
        location=q.location,
        page=page,
        name=q.name,
        label_selector=q.label_selector,
    )
    paged = keyset_paged(request, page, count, [SimpleNamespace(**r) for r in found])
    rows = [vars(r) for r in paged.results]
    busy = any(r["status"] in TRANSITIONAL for r in rows)
    shown = [[r[k] for k in SHOWN] + [r["plan"]["name"]] for r in rows]
    return ServerRows(
        count=count,
        rows=rows,
        next=_relative(paged.next),
        previous=_relative(paged.previous),
        busy=busy,
        version=digest(count, shown),
    )


def _rows_context(request: Request, q: ListQuery, page: ServerRows) -> dict[str, Any]:
    return {
        "q": q,
        "page": page,
        "rows_url": url(request, "/servers/rows") + "?" + q.query(v=page.version),
    }


@router.get("/")
async def list_page(
    request: Request,
    reads: HotPath,
    session: Session,
    viewer: SignedIn,
    q: Annotated[ListQuery, Depends(list_query)],
    deleted: Annotated[str, Query(max_length=63)] = "",
) -> Response:
    selector_error = None
    events_url = await live.events_url(request, session, viewer.account_id)  # before the rows
    try:
        page = await server_rows(request, reads, viewer.account_id, q)
    except ValidationFailed as exc:  # a malformed label selector: said beside its field
        if q.label_selector is None:
            raise
        selector_error = refusals.refusal(exc).fields.get("label_selector", exc.message)
        page = ServerRows(count=0, rows=[], next=None, previous=None, busy=False, version="")
    locations = await catalog.list_locations(session)
    return render(
        request,
        "servers/list.html",
        viewer,
        status_code=400 if selector_error else 200,
        section="servers",
        statuses=STATUSES,
        locations=locations,
        deleted=deleted,
        selector_error=selector_error,
        events_url=events_url,
        **_rows_context(request, q, page),
    )


@router.get("/rows")
async def list_rows(
    request: Request,
    reads: HotPath,
    viewer: SignedIn,
    q: Annotated[ListQuery, Depends(list_query)],
    v: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """The list's table body, fetched again after an event: 204 while it is what the page shows (`v`)."""
    page = await server_rows(request, reads, viewer.account_id, q)
    if page.version == v:
        return Response(status_code=204)
    return render(request, "servers/_rows.html", viewer, **_rows_context(request, q, page))
