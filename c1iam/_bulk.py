"""Bulk runs: one call per item, in parallel, one result per item, in input order.

The session's throttle already makes `asyncio.gather` safe; `bulk` adds what an audit
job wants on top: nothing is lost when some items fail (each failure is kept beside its
item instead of cancelling the rest), nothing runs twice, memory stays bounded for
async sources (a stream is consumed as the workers go), and progress can be reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sized
from typing import Generic, TypeVar

import anyio
import attrs

from ._errors import C1IAMError

__all__ = ["BulkResult", "run_bulk"]

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


@attrs.frozen
class BulkResult(Generic[ItemT, ResultT]):
    """What became of one item: its `value`, or the `error` it raised."""

    item: ItemT
    value: ResultT | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.error is None


async def run_bulk(
    function: Callable[[ItemT], Awaitable[ResultT]],
    items: Iterable[ItemT] | AsyncIterable[ItemT],
    *,
    workers: int,
    progress: Callable[[int, int | None], object] | None = None,
) -> list[BulkResult[ItemT, ResultT]]:
    """Call `function(item)` for every item with `workers` tasks; results in input order.

    `progress(done, total)` is called after each item (`total` is `None` for a source
    without a length). Cancelling the run, Ctrl-C, or an error of the source itself stops
    it; anything else that happens to one item (a `CancelledError` that did not come from
    cancelling the run included) is that item's outcome, and every item taken gets one.
    """
    total = len(items) if isinstance(items, Sized) else None
    results: dict[int, BulkResult[ItemT, ResultT]] = {}
    lock = anyio.Lock()
    next_index = 0
    done = 0
    # The error that stops the run (the source's, or `progress`'s), raised as it is once
    # every worker has stopped: not wrapped in the task group's `ExceptionGroup`.
    stopped_by: Exception | None = None

    def stop(error: Exception) -> None:
        nonlocal stopped_by
        if stopped_by is None:
            stopped_by = error
        group.cancel_scope.cancel()

    if isinstance(items, AsyncIterable):
        async_source = aiter(items)
        sync_source = None
    else:
        async_source = None
        sync_source = iter(items)

    async def take() -> tuple[int, ItemT] | None:
        nonlocal next_index
        # One task at a time: an async generator cannot be advanced concurrently.
        async with lock:
            try:
                if async_source is not None:
                    item = await anext(async_source)
                else:
                    assert sync_source is not None
                    item = next(sync_source)
            except (StopIteration, StopAsyncIteration):
                return None
            except Exception as error:
                stop(error)
                return None
            index, next_index = next_index, next_index + 1
            return index, item

    async def worker() -> None:
        nonlocal done
        while (taken := await take()) is not None:
            index, item = taken
            try:
                results[index] = BulkResult(item, value=await function(item))
            except Exception as error:
                results[index] = BulkResult(item, error=error)
            except asyncio.CancelledError as error:
                if group.cancel_scope.cancel_called:
                    raise  # the run itself is stopping
                # The call ended in a cancellation nobody asked this run for: an outcome of
                # this item, which must not end the worker and lose the items after it.
                results[index] = BulkResult(item, error=_cancelled(error))
                _forget_cancellation()
            done += 1
            if progress is not None:
                try:
                    progress(done, total)
                except Exception as error:
                    stop(error)
                    return

    async with anyio.create_task_group() as group:
        for _ in range(workers):
            group.start_soon(worker)
    if stopped_by is not None:
        raise stopped_by
    return [results[index] for index in range(next_index)]


def _forget_cancellation() -> None:
    """Undo a `Task.cancel()` that was swallowed, so that later timeouts of this worker
    (which count pending cancellations) still work."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        task.uncancel()


def _cancelled(error: asyncio.CancelledError) -> C1IAMError:
    failure = C1IAMError("the call was cancelled, though the bulk run was not")
    failure.__cause__ = error
    return failure
