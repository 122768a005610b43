"""Streams: async iterators that follow a listing to its end.

Two parts:
- **pagers** (pure): given the last answer, what is the next request, and where would a
  resumed listing start? `CursorPager` follows IAM's opaque `next`; `IdPager` pages the
  Deep Security search by ID (`idTest greater-than <last ID>`, `sortByObjectID`), as
  Trend Micro's own samples do.
- **`Stream`**: runs a pager in a background task that reads ahead of the consumer
  through a bounded buffer (`read_ahead` decoded pages, 1 by default, plus one request in
  flight), so page N+1 is on its way while the caller works on page N, and a slow
  consumer never makes memory grow. Closing
  the stream, breaking out of `async for`, or cancelling the consuming task cancels the
  fetch in flight, which releases its connection.

A pager never loops: a repeated cursor (among the last few hundred, remembered by hash so
that memory stays bounded), IDs that do not strictly increase, or more than a few empty
pages in a row, are a `ProtocolError`. With `max_items`, the requests that bring no item
are bounded by it too.

A stream ends normally only when its listing ended (or `max_items` was reached, or its own
consumer stopped it). Closed by another task, or by the session's `aclose()`, its consumer
gets a `C1IAMError` at its next step, never a quiet end that would look complete.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import hashlib
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Final, Generic, Protocol, TypeVar

import attrs

from ._arguments import check_page_size, check_positive_int, optional
from ._errors import C1IAMError, InvalidArgument, ProtocolError, StreamConsumed
from ._sansio import Api, Call, expect_items

__all__ = [
    "CursorPager",
    "IdPager",
    "Page",
    "PageStep",
    "Pager",
    "Stream",
]

T = TypeVar("T")

# IAM: "limit 0 means the default, 25" (the IAM API reference, https://cloudone.trendmicro.com/docs/identity-and-account-management/api-reference/).
IAM_DEFAULT_PAGE_SIZE: Final = 25
# Deep Security: a search returns at most `maxItems` (default 5000); a page of 1000 keeps
# each answer a few hundred kilobytes.
SEARCH_DEFAULT_PAGE_SIZE: Final = 1000
_TURNS_FOR_THE_NEXT_REQUEST: Final = 3
# A server may skip empty pages of a filtered listing, but a run of them this long is a
# listing that makes no progress (a broken server would send them forever).
MAX_EMPTY_PAGES_IN_A_ROW: Final = 10
# Cursors remembered (as 16-byte hashes) to catch a server that sends one back again.
REMEMBERED_CURSORS: Final = 256


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing.

    `cursor` resumes the listing right after this page (pass it as `cursor=`), also in
    another process: it is a plain string. It is `None` on the last page.
    """

    items: list[T]
    cursor: str | None


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
        if not isinstance(cursor, str) or not cursor.isdigit() or not cursor.isascii():
            raise InvalidArgument(f"cursor must be a Page.cursor of this search, got {cursor!r}")
        return int(cursor)

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


class _Failure:
    """An exception carried from the fetching task to the consumer."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


_END: Final = object()


def _fresh(error: BaseException) -> BaseException:
    """A copy of a stored error, to raise it again without piling up tracebacks."""
    try:
        return copy.copy(error).with_traceback(None)
    except Exception:  # an exception class that cannot be rebuilt from its args
        return C1IAMError(str(error))


class Stream(Generic[T]):
    """An async iterator over every item of a listing, following its cursor.

    Returned at once by list and search calls (no `await`); nothing is sent until it is
    iterated. `async for item in stream` yields items; `stream.pages()` yields `Page`s.
    A stream is single-use. Use it as `async with` (or call `aclose()`) to stop it early
    and deterministically; breaking out of `async for` stops it too, a moment later.
    """

    def __init__(
        self,
        *,
        pager: Pager,
        fetch: Callable[[Call], Awaitable[Any]],
        decode: Callable[[Any], T],
        read_ahead: int = 1,
        check: Callable[[], object] | None = None,
    ) -> None:
        self._pager = pager
        self._fetch = fetch
        self._decode = decode
        self._read_ahead = read_ahead
        # Called when iteration starts: raises if the stream's session cannot be used.
        self._check = check
        self._started = False
        # Why the stream was closed before its listing ended, for a consumer that comes
        # (back) to it; None while open.
        self._closed: BaseException | None = None
        # The task iterating, while it does: a close by any other task is an error for it.
        self._consumer: asyncio.Task[Any] | None = None
        # The error for a consumer in the middle of a page when someone else closed it.
        self._interrupted: BaseException | None = None
        self._producer: asyncio.Task[None] | None = None
        self._buffer: asyncio.Queue[Any] | None = None
        # Weak: breaking out of `async for` drops the last strong reference to the
        # generator, and the event loop's finalizer then closes it (stopping the fetch).
        self._iterator: weakref.ref[AsyncGenerator[Any, None]] | None = None

    # -- public surface -----------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[T]:
        iterator = self._items()
        self._iterator = weakref.ref(iterator)
        return iterator

    def pages(self) -> AsyncIterator[Page[T]]:
        """The listing page by page; each `Page.cursor` resumes right after it."""
        iterator = self._pages()
        self._iterator = weakref.ref(iterator)
        return iterator

    async def collect(self) -> list[T]:
        """Every item in a list (mind the memory: prefer `async for` for large listings)."""
        return [item async for item in self]

    async def aclose(self) -> None:
        """Stop: cancel the fetch in flight and release its connection. Idempotent.

        Called by the task that iterates (or when nothing iterates), this is a normal stop.
        Called by another task while one iterates, that consumer gets a `C1IAMError` at
        its next step: a listing cut short must not look complete.
        """
        consumer = self._consumer
        if consumer is not None and consumer is not asyncio.current_task():
            await self._close(_Failure(C1IAMError("the stream was closed by another task")))
        else:
            await self._close(_END)

    async def _close(self, last_word: object) -> None:
        """Stop the fetching task; a consumer waiting for a page gets `last_word`."""
        if isinstance(last_word, _Failure) and self._consumer is not None:
            self._interrupted = last_word.error
        if self._closed is None:
            self._closed = (
                last_word.error
                if isinstance(last_word, _Failure)
                else C1IAMError("the stream was closed")
            )
        await self._stop_producer()
        if self._buffer is not None:
            if isinstance(last_word, _Failure):
                # The consumer stops at its next step, not after the pages read ahead.
                while not self._buffer.empty():
                    self._buffer.get_nowait()
            self._buffer.put_nowait(last_word)
        reference, self._iterator = self._iterator, None
        iterator = reference() if reference is not None else None
        # A failure is left in the buffer for the consumer to raise; only a stop the
        # consumer asked for closes its iterator.
        if iterator is not None and not isinstance(last_word, _Failure):
            # Fails only if another task is inside the iterator right now: it will find
            # `last_word` in the buffer and finish by itself.
            with contextlib.suppress(RuntimeError):
                await iterator.aclose()

    async def __aenter__(self) -> Stream[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = (
            "running"
            if self._producer is not None and not self._producer.done()
            else ("used" if self._started or self._closed is not None else "new")
        )
        return f"<c1iam.Stream {state}>"

    # -- machinery ------------------------------------------------------------------------

    async def _items(self) -> AsyncGenerator[T, None]:
        async with contextlib.aclosing(self._pages()) as pages:
            async for page in pages:
                for item in page.items:
                    yield item
                    if self._interrupted is not None:
                        # Closed by someone else while the consumer held this page.
                        raise self._interrupted

    async def _pages(self) -> AsyncGenerator[Page[T], None]:
        if self._started:
            raise StreamConsumed("this stream was already iterated: streams are single-use")
        if self._closed is not None:
            raise _fresh(self._closed)
        if self._check is not None:
            self._check()
        self._started = True
        buffer: asyncio.Queue[Any] = asyncio.Queue()
        self._buffer = buffer
        taken = asyncio.Event()
        self._consumer = asyncio.current_task()
        self._producer = asyncio.get_running_loop().create_task(self._produce(buffer, taken))
        try:
            while True:
                entry = await buffer.get()
                taken.set()
                if entry is _END:
                    return
                if isinstance(entry, _Failure):
                    raise entry.error
                yield entry
        finally:
            self._consumer = None
            await self._stop_producer()

    async def _stop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None and not producer.done():
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer

    async def _produce(self, buffer: asyncio.Queue[Any], taken: asyncio.Event) -> None:
        """Fetch and decode pages ahead of the consumer, in a pipeline.

        The request for page N+1 goes out before page N is decoded, so decoding overlaps
        the server's work; and the decoding happens here, so it overlaps the consumer's
        work too. A request is only sent while fewer than `read_ahead` decoded pages
        wait in the buffer: however slow the consumer, at most `read_ahead` decoded pages,
        one raw page and one request in flight are held. A provisional page is held back
        until the next answer tells whether it was the last.
        """
        held: Page[T] | None = None
        call = self._pager.next_call()
        in_flight = None if call is None else asyncio.ensure_future(self._fetch(call))
        try:
            while in_flight is not None:
                step = self._pager.feed(await in_flight)
                in_flight = None
                if (call := self._pager.next_call()) is not None:
                    while buffer.qsize() >= self._read_ahead:
                        taken.clear()
                        await taken.wait()
                    in_flight = asyncio.ensure_future(self._fetch(call))
                    # Let it write its request before this page is decoded (aiohttp needs
                    # two or three event loop turns; measured in benchmarks/).
                    for _ in range(_TURNS_FOR_THE_NEXT_REQUEST):
                        await asyncio.sleep(0)
                page = Page([self._decode(item) for item in step.items], step.cursor)
                if held is not None:
                    if not page.items and page.cursor is None:
                        # The empty answer proves the held page was the last one.
                        page = Page(held.items, None)
                    else:
                        buffer.put_nowait(held)
                    held = None
                if step.provisional:
                    held = page
                elif page.items or page.cursor is None:
                    buffer.put_nowait(page)
                # else: an empty page in the middle, followed and not shown
            if held is not None:
                buffer.put_nowait(held)
            buffer.put_nowait(_END)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if held is not None:
                # Its items were read: deliver them (their cursor resumes after them).
                buffer.put_nowait(held)
            buffer.put_nowait(_Failure(error))
        finally:
            if in_flight is not None:
                in_flight.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await in_flight
