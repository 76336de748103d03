"""Pagination over HTTP: the query parameters and the links of vpsorg.pagination's pages."""

from collections.abc import Sequence
from typing import Annotated, TypeVar

from fastapi import Query, Request

from vpsorg.pagination import (
    CURSOR_PATTERN,
    DEFAULT_PAGE_SIZE,
    MAX_ID,
    MAX_PAGE_SIZE,
    Cursor,
    KeysetParams,
    Page,
    PageParams,
)

T = TypeVar("T")


async def page_params(
    page: Annotated[int, Query(ge=1, le=10_000_000, description="1-based page number")] = 1,
    page_size: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page (1-200)")
    ] = DEFAULT_PAGE_SIZE,
) -> PageParams:
    return PageParams(page=page, page_size=page_size)


def page_links(request: Request, params: PageParams, count: int) -> tuple[str | None, str | None]:
    """Absolute links to the next and previous pages, keeping the other query parameters."""
    url = request.url
    nxt = None
    if params.offset + params.page_size < count:
        nxt = str(url.include_query_params(page=params.page + 1, page_size=params.page_size))
    prev = None
    if params.page > 1:
        prev = str(url.include_query_params(page=params.page - 1, page_size=params.page_size))
    return nxt, prev


def paged(request: Request, params: PageParams, count: int, results: list[T]) -> Page[T]:
    """One page of a longer list, with its links."""
    nxt, prev = page_links(request, params, count)
    return Page[T](count=count, next=nxt, previous=prev, results=results)


async def keyset_params(
    page: Annotated[
        int, Query(ge=1, le=10_000_000, description="1-based page number (ignored with `cursor`)")
    ] = 1,
    page_size: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page (1-200)")
    ] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None,
        Query(
            pattern=CURSOR_PATTERN,
            description="Opaque: where the page starts, from a `next` or `previous` link; "
            "deep pages cost what page 1 costs, and no item is skipped or repeated across pages",
        ),
    ] = None,
) -> KeysetParams:
    decoded = None if cursor is None else Cursor.decode(cursor)
    return KeysetParams(page=page, page_size=page_size, cursor=decoded)


def keyset_paged(request: Request, params: KeysetParams, count: int, rows: Sequence[T]) -> Page[T]:
    """The page of keyset_statement's rows (each with an `id`; one more than the page at most),
    with cursor links."""
    cursor = params.cursor
    more = len(rows) > params.page_size
    results = list(rows[: params.page_size])
    if cursor is not None and cursor.backward:
        results.reverse()
    first: int | None = getattr(results[0], "id") if results else None  # noqa: B009
    last: int | None = getattr(results[-1], "id") if results else None  # noqa: B009
    url = request.url.remove_query_params(["page", "cursor"])

    def link(at: int, backward: bool) -> str:
        token = Cursor(id=at, backward=backward).encode()
        return str(url.include_query_params(cursor=token, page_size=params.page_size))

    if cursor is None:
        nxt = link(last, False) if more and last is not None else None
        prev = page_links(request, params, count)[1]
    elif cursor.backward:
        nxt = link(last if last is not None else cursor.id - 1, False)
        prev = link(first, True) if more and first is not None else None
    else:
        nxt = link(last, False) if more and last is not None else None
        prev = link(first if first is not None else min(cursor.id, MAX_ID) + 1, True)
    return Page[T](count=count, next=nxt, previous=prev, results=results)
