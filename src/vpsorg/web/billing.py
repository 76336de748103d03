"""The customer's billing: the account's figures (as GET /api/v1/account/), each server's
month so far, the ledger paged, and the whole ledger as CSV."""

import csv
import io
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from vpsorg import clock
from vpsorg.accounts import limits
from vpsorg.accounts.schemas import LedgerEntryOut
from vpsorg.billing import service as billing
from vpsorg.deps import DefaultLimits, Session, get_state
from vpsorg.pagination import PageParams
from vpsorg.web.auth import SignedIn
from vpsorg.web.templating import render

router = APIRouter(prefix="/billing", include_in_schema=False)

PAGE_SIZE = 50
CSV_BATCH = 1000  # entries a CSV reads per query: the download holds one batch in memory
CSV_COLUMNS = list(LedgerEntryOut.model_fields)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TEXT_COLUMNS = frozenset({"kind", "reason", "currency"})
PageNumber = Annotated[int, Query(ge=1, le=10_000_000)]


@router.get("/")
async def billing_page(
    request: Request, session: Session, viewer: SignedIn, defaults: DefaultLimits, page: PageNumber = 1
) -> Response:
    now = clock.now()
    account = await limits.summary(session, account_id=viewer.account_id, defaults=defaults)
    month = await billing.month_so_far(session, account_id=viewer.account_id, now=now)
    params = PageParams(page=page, page_size=PAGE_SIZE)
    count, entries = await billing.list_ledger(session, account_id=viewer.account_id, page=params)
    return render(
        request,
        "billing/page.html",
        viewer,
        section="billing",
        account=account,
        month_name=now.strftime("%B %Y"),
        servers=month,
        month_total=sum((s.charged for s in month), start=Decimal("0.00")),
        entries=entries,
        count=count,
        page=page,
        pages=max(1, -(-count // PAGE_SIZE)),
    )


def csv_row(entry: Any) -> list[str]:
    """An entry as the API shows it (LedgerEntryOut), text cells kept from running as formulas."""
    values = LedgerEntryOut.model_validate(entry, from_attributes=True).model_dump(mode="json")
    row = []
    for column in CSV_COLUMNS:
        value = values[column]
        text = "" if value is None else str(value)
        if column in TEXT_COLUMNS and text.startswith(FORMULA_START):
            text = "'" + text
        row.append(text)
    return row


def _lines(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


@router.get("/ledger.csv")
async def ledger_csv(request: Request, viewer: SignedIn) -> Response:
    """Every entry, newest first, streamed a batch at a time (each batch read in a short
    read-only session of its own: the request's session ends before the body is sent)."""
    sessions = get_state(request).read_sessions

    async def body() -> AsyncIterator[str]:
        yield _lines([CSV_COLUMNS])
        before: int | None = None
        while True:
            async with sessions() as session:
                batch = await billing.ledger_before(
                    session, account_id=viewer.account_id, before_id=before, limit=CSV_BATCH
                )
            if batch:
                yield _lines([csv_row(e) for e in batch])
            if len(batch) < CSV_BATCH:
                return
            before = batch[-1].id

    filename = f"vpsorg-ledger-{viewer.account_id}-{clock.now():%Y-%m-%d}.csv"
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
