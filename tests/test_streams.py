"""Streams: the read-ahead machinery over a pager.

The `Stream` tests give it a plain coroutine as its fetch, over the pure server models
of tests/test_pagers.py; tests/test_session.py runs streams over HTTP against the fake
server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from c1iam import C1IAMError, Page, ProtocolError, StreamConsumed
from c1iam._pagers import CursorPager, IdPager
from c1iam._sansio import Call
from c1iam._streams import Stream

from .test_pagers import caps, iam_model, page_sizes, search_model

pytestmark = pytest.mark.anyio

# -- Stream --------------------------------------------------------------------------------


class Recorder:
    """A fetch function over a model server that records what it was asked, and can
    be slowed down or made to fail."""

    def __init__(self, server: Callable[[Call], dict[str, Any]]) -> None:
        self.server = server
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.hang_from: int | None = None  # this call and later ones wait for `gate`
        self.fail_on: int | None = None
        self.in_flight = 0

    async def __call__(self, call: Call) -> Any:
        self.calls += 1
        self.in_flight += 1
        try:
            if self.gate is not None and (self.hang_from is None or self.calls >= self.hang_from):
                await self.gate.wait()
            await asyncio.sleep(0)
            if self.fail_on == self.calls:
                raise ProtocolError("boom")
            return self.server(call)
        finally:
            self.in_flight -= 1


def id_stream(ids: list[int], fetch: Recorder, **kwargs: Any) -> Stream[int]:
    pager = IdPager(path="/roles/search", items_key="roles", **kwargs)
    return Stream(pager=pager, fetch=fetch, decode=lambda item: int(item["ID"]))


def user_stream(fetch: Recorder, **kwargs: Any) -> Stream[int]:
    pager = CursorPager(path="/users", items_key="users", **kwargs)
    return Stream(pager=pager, fetch=fetch, decode=lambda item: int(item["id"]))


async def test_stream_yields_every_item() -> None:
    ids = list(range(1, 58))
    fetch = Recorder(search_model(ids, cap=None))
    assert [i async for i in id_stream(ids, fetch, page_size=10)] == ids


async def test_last_page_has_no_cursor_and_no_empty_tail() -> None:
    ids = list(range(1, 31))  # an exact multiple of the page size
    fetch = Recorder(search_model(ids, cap=None))
    pages = [page async for page in id_stream(ids, fetch, page_size=10).pages()]
    assert [len(p.items) for p in pages] == [10, 10, 10]
    assert [p.cursor for p in pages] == ["10", "20", None]


async def test_an_empty_listing_is_one_empty_last_page() -> None:
    fetch = Recorder(search_model([], cap=None))
    pages = [page async for page in id_stream([], fetch).pages()]
    assert pages == [Page([], None)]


@pytest.mark.parametrize("read_ahead", [1, 2])
async def test_read_ahead_is_bounded_however_slow_the_consumer(read_ahead: int) -> None:
    fetch = Recorder(iam_model(list(range(200)), cap=None))
    pager = CursorPager(path="/users", items_key="users", page_size=10)
    stream = Stream(pager=pager, fetch=fetch, decode=lambda i: i["id"], read_ahead=read_ahead)
    pages = stream.pages()
    first = await anext(aiter(pages))
    for _ in range(50):
        await asyncio.sleep(0)  # give the fetching task every chance to run ahead
    assert len(first.items) == 10
    # The page in hand, `read_ahead` decoded pages waiting, and one more request: no more.
    assert fetch.calls == 1 + read_ahead + 1
    assert stream._buffer is not None
    assert stream._buffer.qsize() == read_ahead
    await anext(aiter(pages))
    for _ in range(50):
        await asyncio.sleep(0)
    assert fetch.calls == 2 + read_ahead + 1
    await stream.aclose()


async def test_breaking_out_cancels_the_fetch_in_flight() -> None:
    fetch = Recorder(iam_model(list(range(100)), cap=None))
    fetch.gate, fetch.hang_from = asyncio.Event(), 2  # the read-ahead fetch hangs
    stream = user_stream(fetch, page_size=10)
    async for item in stream:
        if item == 3:
            for _ in range(5):
                await asyncio.sleep(0)
            assert fetch.in_flight == 1
            break
    for _ in range(5):
        await asyncio.sleep(0)  # the event loop's async-generator finalizer runs
    assert fetch.in_flight == 0
    assert stream._producer is None


async def test_aclose_from_another_task_is_an_error_for_a_waiting_consumer() -> None:
    fetch = Recorder(iam_model(list(range(100)), cap=None))
    fetch.gate = asyncio.Event()
    stream = user_stream(fetch)
    consumer = asyncio.create_task(stream.collect())
    await asyncio.sleep(0)
    await stream.aclose()
    # A listing cut short by someone else must not look complete.
    with pytest.raises(C1IAMError, match="the stream was closed"):
        await asyncio.wait_for(consumer, 1.0)
    assert fetch.in_flight == 0


async def test_aclose_from_another_task_between_items_is_an_error_too() -> None:
    fetch = Recorder(iam_model(list(range(100)), cap=None))
    stream = user_stream(fetch, page_size=10)
    seen: list[int] = []
    working = asyncio.Event()
    go_on = asyncio.Event()

    async def consume() -> None:
        async for item in stream:
            seen.append(item)
            working.set()
            await go_on.wait()  # busy with the item when the stream is closed

    consumer = asyncio.create_task(consume())
    await working.wait()
    await stream.aclose()
    go_on.set()
    with pytest.raises(C1IAMError, match="the stream was closed"):
        await asyncio.wait_for(consumer, 1.0)
    assert seen == [0]
    assert fetch.in_flight == 0


async def test_the_consumers_own_aclose_is_a_normal_stop() -> None:
    fetch = Recorder(iam_model(list(range(100)), cap=None))
    stream = user_stream(fetch, page_size=10)
    seen = []
    async for item in stream:
        seen.append(item)
        if item == 2:
            await stream.aclose()
    assert seen == [0, 1, 2]
    assert fetch.in_flight == 0


async def test_a_stream_closed_before_it_was_iterated_says_so() -> None:
    stream = user_stream(Recorder(iam_model([1, 2], cap=None)))
    await stream.aclose()
    raised = []
    for _ in range(2):  # each time a fresh error, not one whose traceback keeps growing
        with pytest.raises(C1IAMError, match="the stream was closed") as caught:
            await stream.collect()
        assert not isinstance(caught.value, StreamConsumed)
        raised.append(caught.value)
    assert raised[0] is not raised[1]


async def test_cancelling_the_consumer_stops_the_fetch() -> None:
    fetch = Recorder(iam_model(list(range(100)), cap=None))
    fetch.gate = asyncio.Event()
    stream = user_stream(fetch)
    consumer = asyncio.create_task(stream.collect())
    for _ in range(3):
        await asyncio.sleep(0)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert fetch.in_flight == 0


async def test_a_stream_is_single_use() -> None:
    fetch = Recorder(iam_model([1, 2], cap=None))
    stream = user_stream(fetch)
    assert await stream.collect() == [1, 2]
    with pytest.raises(StreamConsumed):
        await stream.collect()
    with pytest.raises(StreamConsumed):
        [page async for page in stream.pages()]


async def test_an_error_surfaces_after_the_pages_read_before_it() -> None:
    ids = list(range(1, 26))
    fetch = Recorder(search_model(ids, cap=None))
    fetch.fail_on = 3
    seen: list[Page[int]] = []

    async def consume() -> None:
        async for page in id_stream(ids, fetch, page_size=10).pages():
            seen.append(page)

    with pytest.raises(ProtocolError, match="boom"):
        await consume()
    # Pages 1 and 2 were read before page 3 failed: both arrive, with cursors to resume.
    assert [p.items for p in seen] == [list(range(1, 11)), list(range(11, 21))]
    assert seen[-1].cursor == "20"


@settings(max_examples=40, deadline=None)
@given(
    ids=st.lists(st.integers(1, 5000), unique=True, max_size=60),
    page_size=page_sizes,
    cap=caps,
    read_ahead=st.integers(1, 3),
)
def test_stream_pages_resume_exactly(
    ids: list[int], page_size: int, cap: int | None, read_ahead: int
) -> None:
    async def scenario() -> None:
        fetch = Recorder(search_model(ids, cap=cap))
        pager = IdPager(path="/roles/search", items_key="roles", page_size=page_size)
        stream = Stream(
            pager=pager, fetch=fetch, decode=lambda i: int(i["ID"]), read_ahead=read_ahead
        )
        pages = [page async for page in stream.pages()]
        assert [i for p in pages for i in p.items] == sorted(ids)
        assert pages[-1].cursor is None
        for index, page in enumerate(pages[:-1]):
            assert page.items, "only the last page may be empty"
            resumed = id_stream(ids, Recorder(search_model(ids, cap=cap)), cursor=page.cursor)
            expected = [i for p in pages[index + 1 :] for i in p.items]
            assert [i async for i in resumed] == expected

    asyncio.run(scenario())
