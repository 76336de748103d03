"""Page-number pagination in the shape {"count", "next", "previous", "results"}.

Hand-written because it is twenty lines: the ready-made helpers we looked at
(fastapi-pagination) render other envelopes (items/total/links), not this one.
"""

from typing import Annotated, Generic, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class PageParams(BaseModel):
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def page_params(
    page: Annotated[int, Query(ge=1, le=10_000_000, description="1-based page number")] = 1,
    page_size: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page (1-200)")
    ] = DEFAULT_PAGE_SIZE,
) -> PageParams:
    return PageParams(page=page, page_size=page_size)


class Page(BaseModel, Generic[T]):
    count: int
    next: str | None
    previous: str | None
    results: list[T]


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


def whole_page(results: list[T]) -> Page[T]:
    """A list short enough to return whole, in the same envelope as paged ones."""
    return Page[T](count=len(results), next=None, previous=None, results=results)
