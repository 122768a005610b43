"""Pagers: the pure core of a stream (no I/O).

Given the last answer, what is the next request, and where would a resumed listing
start? `CursorPager` follows IAM's opaque `next`; `IdPager` pages the Deep Security search
by ID (`idTest greater-than <last ID>`, `sortByObjectID`), as Trend Micro's own samples do.
A `Stream` (`_streams.py`) runs one, asking for the next call and feeding it each answer.

A pager never loops: a repeated cursor (among the last few hundred, remembered by hash so
that memory stays bounded), IDs that do not strictly increase, or more than a few empty
pages in a row, are a `ProtocolError`. With `max_items`, the requests that bring no item
are bounded by it too.
"""

from __future__ import annotations

import collections
import hashlib
from collections.abc import Sequence
from typing import Any, Final, Protocol

import attrs

from ._arguments import INT32_MAX, check_page_size, check_positive_int, optional
from ._errors import InvalidArgument, ProtocolError
from ._sansio import Api, Call, expect_items

__all__ = [
    "IAM_DEFAULT_PAGE_SIZE",
    "IAM_FALLBACK_PAGE_SIZES",
    "MAX_EMPTY_PAGES_IN_A_ROW",
    "REMEMBERED_CURSORS",
    "SEARCH_DEFAULT_PAGE_SIZE",
    "CursorPager",
    "IdPager",
    "PageStep",
    "Pager",
]

# IAM documents `limit` with a default of 25 and no maximum. A large page saves requests
# (5,000 users: 5 requests, not 200) under a rate limit; a server that caps the size
# silently is followed page by page, and one that refuses it with a 400 makes the stream
# step down through `IAM_FALLBACK_PAGE_SIZES` (the last is the documented default).
IAM_DEFAULT_PAGE_SIZE: Final = 1000
IAM_FALLBACK_PAGE_SIZES: Final = (200, 25)
# Deep Security: a search returns at most `maxItems` (default 5000); a page of 1000 keeps
# each answer a few hundred kilobytes.
SEARCH_DEFAULT_PAGE_SIZE: Final = 1000
# A server may skip empty pages of a filtered listing, but a run of them this long is a
# listing that makes no progress (a broken server would send them forever).
MAX_EMPTY_PAGES_IN_A_ROW: Final = 10
# Cursors remembered (as 16-byte hashes) to catch a server that sends one back again.
REMEMBERED_CURSORS: Final = 256


@attrs.frozen
class PageStep:
    """What a pager made of one answer.

    `items`: the raw JSON objects. `cursor`: resumes after them (`None`: the listing is
    known to end here). `provisional`: whether the cursor might turn out to be the end
    once the next answer is known (ID paging cannot tell a last full page from a middle
    one); the stream then holds the page back until it knows.
    """

    items: list[dict[str, Any]]
    cursor: str | None
    provisional: bool = False


class Pager(Protocol):
    """The pure core of a stream: the next request, and what an answer means."""

    def next_call(self) -> Call | None:
        """The request for the next page, or `None` when the stream is done."""
        ...

    def feed(self, data: Any) -> PageStep:
        """Digest the answer to the last `next_call()`."""
        ...

    def smaller_page(self) -> bool:
        """After a 400 to the last `next_call()`: ask for smaller pages from now on, if
        the page size is the pager's own choice and a smaller one is left to try."""
        ...


class CursorPager:
    """IAM paging: `limit` and the opaque `cursor`, following `next` until it is absent.

    `next` absent, null or "" ends the listing; an empty page with a `next` is followed.
    """

    def __init__(
        self,
        *,
        path: str,
        items_key: str,
        filters: Sequence[tuple[str, str]] = (),
        page_size: int | None = None,
        cursor: str | None = None,
        max_items: int | None = None,
    ) -> None:
        if cursor is not None and (not isinstance(cursor, str) or not cursor):
            raise InvalidArgument(
                f"cursor must be a non-empty str from Page.cursor, got {cursor!r}"
            )
        self._path = path
        self._items_key = items_key
        self._filters = tuple(filters)
        self._page_size = optional(check_page_size, "page_size", page_size) or IAM_DEFAULT_PAGE_SIZE
        # Only a size the caller did not choose falls back: theirs is what they asked for.
        self._fallbacks = list(IAM_FALLBACK_PAGE_SIZES) if page_size is None else []
        self._remaining = optional(check_positive_int, "max_items", max_items)
        self._cursor = cursor
        self._max_items = self._remaining
        self._recent_cursors = _RecentCursors()
        if cursor is not None:
            self._recent_cursors.add(cursor)
        self._empty_in_a_row = 0
        self._empty_pages = 0
        self._done = False

    def next_call(self) -> Call | None:
        """`GET <path>?limit=..&cursor=..`, or `None` when done."""
        if self._done:
            return None
        limit = (
            self._page_size if self._remaining is None else min(self._page_size, self._remaining)
        )
        params = [*self._filters, ("limit", str(limit))]
        if self._cursor is not None:
            params.append(("cursor", self._cursor))
        return Call(api=Api.ACCOUNTS, method="GET", path=self._path, params=tuple(params))

    def smaller_page(self) -> bool:
        """Step down to the next fallback page size (see `IAM_DEFAULT_PAGE_SIZE`)."""
        if not self._fallbacks:
            return False
        self._page_size = self._fallbacks.pop(0)
        return True

    def feed(self, data: Any) -> PageStep:
        """Read `{"next": ..., "<items>": [...]}`."""
        items = expect_items(data, self._items_key)
        following = data.get("next")
        if following is not None and not isinstance(following, str):
            raise ProtocolError(f"expected 'next' to be a string, got {type(following).__name__}")
        if self._remaining is not None:
            # We asked for at most `remaining`; a server that sends more is cut short, and
            # the cursor it gave still resumes after the page it sent.
            items = items[: self._remaining]
            self._remaining -= len(items)
        if not following:
            self._done = True
            return PageStep(items, None)
        self._check_progress(bool(items))
        if not self._recent_cursors.add(following):
            raise ProtocolError("the server repeated a page cursor: the listing would never end")
        self._cursor = following
        if self._remaining == 0:
            self._done = True
        return PageStep(items, following)

    def _check_progress(self, got_items: bool) -> None:
        """Refuse a listing that keeps sending pages without items, each with a new `next`."""
        if got_items:
            self._empty_in_a_row = 0
            return
        self._empty_in_a_row += 1
        self._empty_pages += 1
        if self._empty_in_a_row > MAX_EMPTY_PAGES_IN_A_ROW:
            raise ProtocolError(
                f"the server sent {self._empty_in_a_row} pages in a row without items, each "
                "with another cursor: the listing makes no progress"
            )
        if self._max_items is not None and self._empty_pages > self._max_items:
            # max_items bounds the work of a stream, not only what it yields.
            raise ProtocolError(
                f"the server sent {self._empty_pages} pages without items for a listing "
                f"of at most {self._max_items} items: the listing makes no progress"
            )


class _RecentCursors:
    """The last `REMEMBERED_CURSORS` cursors, kept as hashes: memory stays bounded
    however long the listing, and whatever the server puts in a cursor."""

    def __init__(self) -> None:
        self._order: collections.deque[bytes] = collections.deque()
        self._known: set[bytes] = set()

    def add(self, cursor: str) -> bool:
        """Remember `cursor`; False if it was already among the recent ones."""
        digest = hashlib.blake2b(cursor.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if digest in self._known:
            return False
        self._known.add(digest)
        self._order.append(digest)
        if len(self._order) > REMEMBERED_CURSORS:
            self._known.discard(self._order.popleft())
        return True


class IdPager:
    """Deep Security search paging: the caller's criteria ANDed with `ID > last ID`.

    The end is an empty page, never a short one: a server may cap `maxItems` below the
    page size asked for, and a short page then says nothing about the end.
    """

    def __init__(
        self,
        *,
        path: str,
        items_key: str,
        criteria: Sequence[dict[str, Any]] = (),
        page_size: int | None = None,
        cursor: str | None = None,
        max_items: int | None = None,
    ) -> None:
        self._path = path
        self._items_key = items_key
        self._criteria = list(criteria)
        self._page_size = (
            optional(check_page_size, "page_size", page_size) or SEARCH_DEFAULT_PAGE_SIZE
        )
        self._remaining = optional(check_positive_int, "max_items", max_items)
        self._last_id = self.parse_cursor(cursor)
        self._done = False

    @staticmethod
    def parse_cursor(cursor: str | None) -> int:
        """The last ID seen, from a `Page.cursor` (0 to start)."""
        if cursor is None:
            return 0
        # (The last ID seen: an int32, as every role ID; a longer one would reach the server.)
        if (
            not isinstance(cursor, str)
            or not cursor.isdigit()
            or not cursor.isascii()
            or int(cursor) > INT32_MAX
        ):
            raise InvalidArgument(f"cursor must be a Page.cursor of this search, got {cursor!r}")
        return int(cursor)

    def smaller_page(self) -> bool:
        """Never: a search's `maxItems` is documented, and the default is within it."""
        return False

    def next_call(self) -> Call | None:
        """`POST <path>` with the search filter of the next page, or `None` when done."""
        if self._done:
            return None
        limit = (
            self._page_size if self._remaining is None else min(self._page_size, self._remaining)
        )
        body = {
            "maxItems": limit,
            "searchCriteria": [
                *self._criteria,
                {"idTest": "greater-than", "idValue": self._last_id},
            ],
            "sortByObjectID": True,
        }
        return Call(api=Api.WORKLOAD, method="POST", path=self._path, json=body)

    def feed(self, data: Any) -> PageStep:
        """Read `{"<items>": [...]}` and check that IDs strictly increase."""
        items = expect_items(data, self._items_key)
        if self._remaining is not None:
            items = items[: self._remaining]
            self._remaining -= len(items)
        previous = self._last_id
        for item in items:
            item_id = item.get("ID")
            if isinstance(item_id, bool) or not isinstance(item_id, int):
                raise ProtocolError(f"a search result without an integer ID: {item_id!r}")
            if item_id <= previous:
                raise ProtocolError(
                    f"search results out of ID order ({item_id} after {previous}): "
                    "paging by ID would repeat or skip objects"
                )
            previous = item_id
        self._last_id = previous
        if not items:
            self._done = True
            return PageStep(items, None)
        if self._remaining == 0:
            self._done = True
            return PageStep(items, str(previous))
        return PageStep(items, str(previous), provisional=True)
