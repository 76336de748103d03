"""Pagination in the shape {"count", "next", "previous", "results"}: by page number, and for
long lists (servers) also by keyset cursor.

A cursor (`?cursor=`, opaque) names the id a page starts after (or ends before): the page is
`WHERE id > :after ORDER BY id LIMIT n`, an index range whatever the depth, and an insert or
delete elsewhere in the list neither repeats nor skips an item between two pages. On a keyset
list every `next` link is a cursor link, from page 1 on; `page` keeps working, and
`previous` of a numbered page stays numbered.

Hand-written because it is short: the ready-made helpers we looked at (fastapi-pagination)
render other envelopes (items/total/links), not this one.

This module is the pages and the statements, free of HTTP (services use it); the query
parameters and the links are vpsorg.http.pagination's.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import bindparam, literal_column, select

from vpsorg.errors import ValidationFailed

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class PageParams(BaseModel):
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


class Page(BaseModel, Generic[T]):
    count: int
    next: str | None
    previous: str | None
    results: list[T]


def whole_page(results: list[T]) -> Page[T]:
    """A list short enough to return whole, in the same envelope as paged ones."""
    return Page[T](count=len(results), next=None, previous=None, results=results)


# A cursor is "a" (after) or "b" (before) and an id: opaque to clients, who only follow
# links, but a pattern the OpenAPI document can state exactly (any id of up to ten digits
# names a place in the list, past the last id too).
MAX_ID = 2**31 - 1  # ids are 32-bit on every database we support
CURSOR_PATTERN = r"^[ab](0|[1-9][0-9]{0,9})$"
_CURSOR = re.compile(CURSOR_PATTERN)


@dataclass(frozen=True)
class Cursor:
    """Ids after `id` (forward), or before it (backward, for a `previous` link)."""

    id: int
    backward: bool = False

    def encode(self) -> str:
        return f"{'b' if self.backward else 'a'}{self.id}"

    @classmethod
    def decode(cls, value: str) -> "Cursor":
        if _CURSOR.fullmatch(value) is None:  # the query parameter's pattern checked it already
            raise ValidationFailed.field("cursor", f"must match {CURSOR_PATTERN}")
        return cls(id=int(value[1:]), backward=value[0] == "b")


class KeysetParams(PageParams):
    cursor: Cursor | None = None


OFFSET, AFTER, BEFORE = "offset", "after", "before"  # the three shapes of a keyset page's statement


def keyset_window(params: KeysetParams) -> tuple[str, int, dict[str, int]]:
    """Which statement the page takes, its row limit (the page's rows and one more: whether
    another page follows) and its parameters: OFFSET (`offset`), AFTER (`key > :after`) or
    BEFORE (`key <= :through`, descending). See keyset_statement."""
    cursor = params.cursor
    limit = params.page_size + 1
    if cursor is None:
        return OFFSET, limit, {"offset": params.offset}
    # Bounds past the largest id are clamped to it: a 32-bit column is not compared with more.
    if cursor.backward:
        return BEFORE, limit, {"through": min(cursor.id - 1, MAX_ID)}
    return AFTER, limit, {"after": min(cursor.id, MAX_ID)}


def keyset_statement(
    columns: Any, joined: Any, key: Any, where: Sequence[Any], shape: str, limit: int
) -> Any:
    """The statement of one shape of keyset_window, to be built once per shape and limit.

    `key` is a column of `joined` (the list's rows with whatever they are shown with). A page by
    number picks its keys first, from the filtered keys alone, and joins only those: the rows
    an offset skips are never joined. The limit is written into the SQL: PostgreSQL plans a
    prepared statement's LIMIT parameter as a thousand rows (a hash join over the whole table,
    once it settles on a generic plan); bounds and offsets are parameters."""
    rows: Any = literal_column(str(int(limit)))
    if shape == OFFSET:
        keys = select(key.label("key")).where(*where).order_by(key).offset(bindparam("offset")).limit(rows)
        page = keys.subquery("page")
        return select(*columns).select_from(page.join(joined, key == page.c.key)).order_by(key)
    stmt = select(*columns).select_from(joined).where(*where)
    if shape == BEFORE:
        return stmt.where(key <= bindparam("through")).order_by(key.desc()).limit(rows)
    return stmt.where(key > bindparam("after")).order_by(key).limit(rows)
