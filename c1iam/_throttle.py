"""The gate every request of a session passes: turns, slots, retry waits and close.

`Throttle.acquire()` returns a `Ticket` when a request may leave: the session's
`Governor` (`_control.py`: rate, holds, probes) admits it and one of the
`max_concurrency` slots is free. Both are granted together, in FIFO order, by one
dispatcher, so a rate cut or a hold applies at once to every waiter (the 10,000 tasks of
an `asyncio.gather` included): nothing that is queued holds a slot or a turn booked under
rules that no longer hold. `Throttle.finish(ticket, answer)` gives the slot back and
tells the governor what the answer said, before the next waiter is served.

A call that waits to retry waits *here*, in a queue of its own ordered by when it may
go, and goes ahead of new calls when its time comes: a refused request must not queue
behind the thousands that came after it. Waiting here is what lets `aclose()` end every
waiting, queued or sleeping call at once with "the session is closed", and lets a
fail-fast call give up the moment its deadline passes, unsent.

Concurrency vocabulary: asyncio futures and one pacing task, on the session's loop
(aiohttp ties c1iam to asyncio); time comes from an injected `Clock`, so tests run the
whole gate on a fake clock without sleeping.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import math
import time
from typing import Protocol

import attrs

from ._control import Answer, Governor, Mode, RateControl
from ._errors import C1IAMError, RateLimited
from ._store import LocalStore, RemoteAnswer, Snapshot, ThrottleStore

__all__ = ["Clock", "SystemClock", "Throttle", "ThrottleStats", "Ticket"]

# asyncio's timers wake up to a millisecond late (epoll's timeout is in whole milliseconds,
# rounded up): a wait that must end on time spends its last this many seconds yielding.
PRECISE_SPIN = 0.0015


class Clock(Protocol):
    """Time as the throttle sees it; tests inject a fake one (no real sleeping)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def time(self) -> float:
        """POSIX seconds, to read HTTP-date `Retry-After` values."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep; cancellable."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """`time.monotonic()`."""
        return time.monotonic()

    def time(self) -> float:
        """`time.time()`."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """`asyncio.sleep(seconds)`."""
        await asyncio.sleep(seconds)


@attrs.define(eq=False)
class Ticket:
    """A request's turn: when it left, at what rate, whether it probes an outage, and
    how long it queued."""

    sent_at: float
    probe: bool
    queued: float
    rate: float | None = None
    window_test: object | None = None  # the governor's, handed back with the answer
    early: bool = False  # it left less than one interval after the turn before
    finished: bool = False


@attrs.frozen(kw_only=True)
class ThrottleStats:
    """A snapshot of a session's throttle, for logs and metrics.

    - `rate`: requests per second allowed now (`None`: not limited).
    - `mode`: "open" (nothing refused yet), "learning" (slow start after the first 429),
      "steady", "held" (waiting out a `Retry-After`) or "probing" (an outage or a full
      window: one request at a time until the service answers).
    - `in_flight`: requests sent and not yet answered.
    - `queued`: calls waiting for their turn, or to retry.
    - `sent`, `retries`, `rate_limited` (429 answers), `rate_cuts`: counts since the start.
    - `paused_seconds`: total time the session was held.
    - `paused_for`: seconds left of the current hold (0.0 when none; while probing, until
      the next probe).
    - `shared`: the throttle is shared with other sessions on the same API key now
      (`shared_throttle`; False without it, or while its Redis is unreachable).
    - `shared_sessions`: how many sessions share it now, this one included (1 when not
      shared).
    - `shared_error`: why the throttle is not shared although it was asked to be
      (None otherwise).
    """

    rate: float | None
    mode: str
    in_flight: int
    queued: int
    sent: int
    retries: int
    rate_limited: int
    rate_cuts: int
    paused_seconds: float
    paused_for: float
    shared: bool = False
    shared_sessions: int = 1
    shared_error: str | None = None


class _Waiter:
    """A call waiting for its turn."""

    __slots__ = ("future", "ready_at")

    def __init__(self, future: asyncio.Future[Ticket], ready_at: float) -> None:
        self.future = future
        self.ready_at = ready_at


class Throttle:
    """The session-wide gate every request passes (see the module docstring)."""

    def __init__(
        self,
        *,
        max_concurrency: int,
        rate: float | None,
        pause_threshold: float,
        clock: Clock,
        store: ThrottleStore | None = None,
    ) -> None:
        self._clock = clock
        # Shared with other sessions through `store` (by default a `LocalStore`: not shared).
        self._store: ThrottleStore = store if store is not None else LocalStore()
        self._shared = self._store.shared
        self._joining: asyncio.Future[None] | None = None
        self._shared_bound = False  # the last request waited for the shared schedule
        self._remote_refused = 0
        self._closing = asyncio.Event()
        self._booking = asyncio.Lock()
        self._governor = Governor(
            RateControl(ceiling=rate), pause_threshold=pause_threshold, refunds=not self._shared
        )
        self._max_concurrency = max_concurrency
        self._free_slots = max_concurrency
        self._ready: collections.deque[_Waiter] = collections.deque()
        # (not before, order, waiter): calls waiting to retry, earliest first.
        self._retrying: list[tuple[float, int, _Waiter]] = []
        # (give up at, order, waiter): fail-fast calls and their deadlines.
        self._deadlines: list[tuple[float, int, _Waiter]] = []
        self._order = itertools.count()
        self._rate_bound = False
        self._next_wake = math.inf
        self._wakeup = asyncio.Event()
        self._pacer: asyncio.Task[None] | None = None
        self._closed = False
        self._sent = 0
        self._retries = 0

    # -- the way in -------------------------------------------------------------------

    async def acquire(
        self, *, not_before: float | None = None, give_up_at: float | None = None
    ) -> Ticket:
        """Wait for a turn and a slot; the `Ticket` says when the request left.

        `not_before`: a retry, which waits until then and goes ahead of new calls.
        `give_up_at`: raise `RateLimited`, unsent, if the turn cannot come by then (and at
        once if the governor already knows it will not).
        """
        if not self._shared:
            return await self._local_turn(not_before, give_up_at)
        if self._joining is None:
            self._joining = asyncio.ensure_future(
                self._store.start(learn=self._learn, snapshot=self._snapshot, adopt=self._adopt)
            )
        try:
            await asyncio.shield(self._joining)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._closed and (task is None or not task.cancelling()):
                # `aclose` cancelled the join, not this call's caller.
                raise _closed() from None
            raise
        requeued = False
        while True:
            ticket = await self._local_turn(not_before, give_up_at, requeued=requeued)
            try:
                if await self._book(ticket, give_up_at):
                    return ticket
            except BaseException:
                self._give_back(ticket)
                raise
            # A hold began (another session's, often) while this turn waited to book:
            # give the turn back, unsent, and queue again ahead of new calls.
            self._give_back(ticket)
            not_before, requeued = self._clock.monotonic(), True

    async def _book(self, ticket: Ticket, give_up_at: float | None) -> bool:
        """The shared schedule: this turn's place among every session's. One turn of this
        session at a time asks (the others queue here, not in Redis), at the rate of the
        moment, so that a cut applies at once. False: a hold began meanwhile."""
        async with self._booking:
            while True:
                held = self._governor.mode(self._clock.monotonic()) in (Mode.HELD, Mode.PROBING)
                if held and not ticket.probe:
                    return False
                rate = self._governor.rate
                wait = await self._store.reserve(rate, strict=self._governor.strict_spacing)
                self._shared_bound = wait != 0.0
                if wait >= 0.0:
                    break
                if give_up_at is not None and self._clock.monotonic() - wait > give_up_at:
                    raise _too_late(-wait)
                await self._sleep_unless_closed(-wait)
        # Booked now, at this rate: a 429 for it after a cut is the cut's own episode.
        booked_at, ticket.sent_at, ticket.rate = ticket.sent_at, self._clock.monotonic(), rate
        self._governor.rebook(booked_at, ticket.sent_at, ticket.window_test)
        if wait > 0.0:
            await self._sleep_unless_closed(wait)
        return True

    async def _local_turn(
        self, not_before: float | None, give_up_at: float | None, *, requeued: bool = False
    ) -> Ticket:
        """A turn from this session's own gate. `requeued`: a turn given back unsent (a
        shared hold began while it waited to book), queued again first; not a retry."""
        if self._closed:
            raise _closed()
        now = self._clock.monotonic()
        if not_before is not None and not requeued:
            self._retries += 1  # every retry, an immediate one (a refused probe) included
        retry_later = not_before is not None and not_before > now
        if not retry_later and (
            not self._ready
            and self._slot_free(now)
            and not (self._retrying and self._retrying[0][0] <= now)
        ):
            wait, probe = self._governor.admit(now)
            if wait == 0.0:  # the fast path: nobody queued, a slot and a turn at hand
                return self._grant(now, probe, queued=0.0)
        if give_up_at is not None:
            estimate = self._governor.wait_estimate(now, ahead=len(self._ready))
            if estimate is not None and now + estimate > give_up_at:
                estimate = self._governor.wait_estimate(now, ahead=self._ahead())
                if estimate is not None and now + estimate > give_up_at:
                    raise _too_late(estimate)
        waiter = _Waiter(asyncio.get_running_loop().create_future(), now)
        if retry_later:
            assert not_before is not None
            waiter.ready_at = not_before
            heapq.heappush(self._retrying, (not_before, next(self._order), waiter))
        elif not_before is not None:
            self._ready.appendleft(waiter)
        else:
            self._ready.append(waiter)
        if give_up_at is not None:
            heapq.heappush(self._deadlines, (give_up_at, next(self._order), waiter))
        self._dispatch()
        # Cancelling the task cancels the future: the dispatcher skips it.
        try:
            ticket = await waiter.future
        except asyncio.CancelledError:
            future = waiter.future
            if future.done() and not future.cancelled() and future.exception() is None:
                # Granted in the same step as this call was cancelled: nobody holds the
                # ticket. Give its slot back (and a probe's place), unsent.
                self._give_back(future.result())
            raise
        self._governor.departed(ticket.sent_at, self._clock.monotonic())
        return ticket

    def _give_back(self, ticket: Ticket) -> None:
        """A granted turn that was never sent: its slot back, and out of a window's books."""
        self._governor.unsent(ticket.sent_at)
        self.finish(ticket)
        self._sent -= 1

    def finish(
        self,
        ticket: Ticket,
        answer: Answer = Answer.NOTHING,
        *,
        retry_after: float | None = None,
    ) -> None:
        """Give the slot back and tell the governor the answer; idempotent (the first
        call counts), so it is safe in a `finally`."""
        if ticket.finished:
            return
        ticket.finished = True
        self._governor.on_answer(
            answer,
            sent_at=ticket.sent_at,
            now=self._clock.monotonic(),
            probe=ticket.probe,
            retry_after=retry_after,
            rate_bound=self._rate_bound or self._shared_bound,
            backlog=len(self._ready) + len(self._retrying),
            sent_rate=ticket.rate,
            window_test=ticket.window_test,
            early=ticket.early,
        )
        if answer is not Answer.NOTHING:
            self._store.publish(
                answer, sent_at=ticket.sent_at, retry_after=retry_after, sent_rate=ticket.rate
            )
        self._free_slots += 1
        if not self._closed:
            self._dispatch()

    # -- sharing (see `_store`) ----------------------------------------------------------------

    def _learn(self, remote: RemoteAnswer) -> None:
        """Another session's answer: the governor learns from it as from its own."""
        if self._closed:
            return
        if remote.answer is Answer.REFUSED:
            self._remote_refused += 1
        self._governor.on_answer(
            remote.answer,
            sent_at=remote.sent_at,
            now=self._clock.monotonic(),
            probe=False,
            retry_after=remote.retry_after,
            rate_bound=self._rate_bound or self._shared_bound,
            backlog=len(self._ready) + len(self._retrying),
            sent_rate=remote.sent_rate,
            ours=False,
        )
        self._dispatch()

    def _snapshot(self) -> Snapshot:
        governor = self._governor
        hold = governor.hold
        return Snapshot(
            rate=governor.rate,
            mode=governor.rate_control.mode,
            hold_until=hold.until if hold is not None and not hold.probing else None,
            cuts=governor.rate_cuts,
        )

    def _adopt(self, learned: Snapshot) -> None:
        """Start from what the sessions already sharing have learned, or follow the rate
        they agreed on since."""
        if learned.rate is None or self._closed:
            return
        now = self._clock.monotonic()
        if self._joining is not None and self._joining.done():
            self._governor.follow(learned.rate, now)
        else:
            self._governor.adopt(learned.rate, learned.mode, now, hold_until=learned.hold_until)
        self._dispatch()

    async def _sleep_unless_closed(self, seconds: float) -> None:
        await self._sleep_or_until(seconds, self._closing)
        if self._closed:
            raise _closed()

    async def _sleep_or_until(self, seconds: float, event: asyncio.Event) -> None:
        """Sleep on the injected clock, ending early when `event` is set."""
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        setter = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({sleeper, setter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            setter.cancel()

    async def _sleep_precisely(self, seconds: float, event: asyncio.Event) -> None:
        """`_sleep_or_until`, on time to a few microseconds rather than a millisecond: the
        last `PRECISE_SPIN` seconds are spent yielding to the event loop. For turns spaced
        strictly (a server with a burst of one), where a turn that leaves late is lost
        and one that catches up is refused."""
        clock = self._clock
        until = clock.monotonic() + seconds
        if seconds > PRECISE_SPIN and not event.is_set():
            await self._sleep_or_until(seconds - PRECISE_SPIN, event)
        while not event.is_set():
            now = clock.monotonic()
            if now >= until:
                return
            await asyncio.sleep(0)
            if clock.monotonic() == now:
                # A clock that moves only when slept on (a test's, or virtual time).
                await self._sleep_or_until(until - now, event)
                return

    def _ahead(self) -> int:
        """Calls due now that still wait for a turn: a cancelled one stays in the queue
        until the dispatcher reaches it. (Counted for `stats()`, and before refusing a
        call for its deadline, not on every turn: a fail-fast session's queue holds at
        most a deadline's worth.)"""
        return sum(1 for waiter in self._ready if not waiter.future.done())

    def _slot_free(self, now: float) -> bool:
        in_flight = self._max_concurrency - self._free_slots
        return in_flight < self._governor.in_flight_limit(self._max_concurrency, now)

    def _grant(self, now: float, probe: bool, queued: float) -> Ticket:
        self._free_slots -= 1
        self._sent += 1
        governor = self._governor
        return Ticket(
            sent_at=now,
            probe=probe,
            queued=queued,
            rate=governor.rate,
            window_test=governor.granted_test,
            # (A shared schedule times the turn itself: when it leaves is not the governor's.)
            early=governor.granted_early and not self._shared,
        )

    # -- the dispatcher ---------------------------------------------------------------

    def _dispatch(self) -> None:
        """Grant every turn that can be granted now; arrange to wake for the next one."""
        now = self._clock.monotonic()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, _, waiter = heapq.heappop(self._deadlines)
            if not waiter.future.done():
                estimate = self._governor.wait_estimate(now, ahead=self._ahead())
                waiter.future.set_exception(_too_late(estimate))
        due: list[_Waiter] = []
        while self._retrying and self._retrying[0][0] <= now:
            waiter = heapq.heappop(self._retrying)[2]
            if not waiter.future.done():  # (not cancelled, nor past its deadline)
                due.append(waiter)
        self._ready.extendleft(reversed(due))  # retries first, the earliest due first
        wait = math.inf
        while self._ready and self._slot_free(now):
            waiter = self._ready[0]
            if waiter.future.done():  # cancelled, or past its deadline
                self._ready.popleft()
                continue
            wait, probe = self._governor.admit(now)
            if wait > 0.0:
                break
            self._ready.popleft()
            waiter.future.set_result(self._grant(now, probe, queued=now - waiter.ready_at))
        # Requests wait for the rate (not for a slot, nor for a hold): the rate may grow.
        self._rate_bound = (
            bool(self._ready)
            and self._slot_free(now)
            and wait < math.inf
            and self._governor.hold is None
        )
        wake = now + wait if self._ready and self._slot_free(now) else math.inf
        if self._retrying:
            wake = min(wake, self._retrying[0][0])
        if self._deadlines:
            wake = min(wake, self._deadlines[0][0])
        if wake < self._next_wake:
            self._next_wake = wake
            if self._pacer is None or self._pacer.done():
                self._pacer = asyncio.get_running_loop().create_task(self._pace())
            else:
                self._wakeup.set()

    async def _pace(self) -> None:
        """Sleep until the next moment a turn may be granted by time alone; dispatch."""
        while not self._closed:
            wait = self._next_wake - self._clock.monotonic()
            if wait > 0.0:
                self._wakeup.clear()
                # Woken early when the next moment moves closer.
                if self._governor.strict_spacing:
                    await self._sleep_precisely(wait, self._wakeup)
                else:
                    await self._sleep_or_until(wait, self._wakeup)
                if self._clock.monotonic() < self._next_wake:
                    continue
            self._next_wake = math.inf
            self._dispatch()
            if self._next_wake == math.inf:
                return

    # -- state ----------------------------------------------------------------------------

    def stats(self) -> ThrottleStats:
        """A snapshot for logs and metrics."""
        now = self._clock.monotonic()
        governor = self._governor
        hold = governor.hold
        shared = self._store.state()
        return ThrottleStats(
            rate=governor.rate,
            mode=governor.mode(now).value,
            in_flight=self._max_concurrency - self._free_slots,
            queued=self._ahead() + sum(1 for _, _, w in self._retrying if not w.future.done()),
            sent=self._sent,
            retries=self._retries,
            rate_limited=governor.refused - self._remote_refused,
            rate_cuts=governor.rate_cuts,
            paused_seconds=governor.held_seconds,
            paused_for=max(0.0, hold.until - now) if hold is not None else 0.0,
            shared=shared.shared,
            shared_sessions=shared.sessions,
            shared_error=shared.error,
        )

    @property
    def mode(self) -> Mode:
        """What the governor is doing now."""
        return self._governor.mode(self._clock.monotonic())

    async def aclose(self) -> None:
        """End every waiting call with "the session is closed"; stop the pacer."""
        self._closed = True
        self._closing.set()
        waiting = [*self._ready, *(w for _, _, w in self._retrying)]
        self._ready.clear()
        self._retrying.clear()
        self._deadlines.clear()
        for waiter in waiting:
            if not waiter.future.done():
                waiter.future.set_exception(_closed())
        if self._pacer is not None:
            self._pacer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pacer
            self._pacer = None
        if self._joining is not None and not self._joining.done():
            self._joining.cancel()
        await self._store.aclose()


def _closed() -> C1IAMError:
    return C1IAMError("the session is closed")


def _too_late(estimate: float | None) -> RateLimited:
    """A fail-fast call that cannot be sent before its deadline: raised unsent."""
    wait = f"about {estimate:.2f} s" if estimate is not None else "longer than its deadline"
    return RateLimited(
        f"not sent: the session's rate limit would hold this call {wait}, "
        "beyond its deadline (RetryPolicy(fail_fast=True, deadline=...))",
        status=429,
        retry_after=estimate,
    )
