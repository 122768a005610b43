"""Streams: async iterators that follow a listing to its end.

A `Stream` runs a pager (`_pagers.py`, pure: the next request, what an answer means) in
a background task that reads ahead of the consumer through a bounded buffer
(`read_ahead` decoded pages, 1 by default, plus one request in flight), so page N+1 is on
its way while the caller works on page N, and a slow consumer never makes memory grow.
Closing the stream, breaking out of `async for`, or cancelling the consuming task cancels
the fetch in flight, which releases its connection.

A stream ends normally only when its listing ended (or `max_items` was reached, or its own
consumer stopped it). Closed by another task, or by the session's `aclose()`, its consumer
gets a `C1IAMError` at its next step, never a quiet end that would look complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Final, Generic, TypeVar

import attrs

from ._errors import BadRequest, C1IAMError, StreamConsumed
from ._pagers import Pager
from ._sansio import Call

__all__ = ["Page", "Stream"]

T = TypeVar("T")

_TURNS_FOR_THE_NEXT_REQUEST: Final = 3


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing.

    `cursor` resumes the listing right after this page (pass it as `cursor=`), also in
    another process: it is a plain string. It is `None` on the last page.
    """

    items: list[T]
    cursor: str | None


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
                try:
                    answer = await in_flight
                except BadRequest:
                    if not self._pager.smaller_page():
                        raise
                    # The same page again, smaller: the server refused the page size.
                    call = self._pager.next_call()
                    assert call is not None
                    in_flight = asyncio.ensure_future(self._fetch(call))
                    continue
                step = self._pager.feed(answer)
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
