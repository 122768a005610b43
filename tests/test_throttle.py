"""The gate on a fake clock: slots, pacing, retries first, fail-fast deadlines, close."""

from __future__ import annotations

import asyncio
import itertools
import math
from typing import Any

import pytest

import c1iam
from c1iam._control import END_GAME_SPACING, NEAR_MISS_BETA, Answer, strict_interval
from c1iam._store import LocalStore, StoreState
from c1iam._throttle import PRECISE_SPIN, Throttle, Ticket
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio


def _throttle(clock: FakeClock, *, rate: float | None = None, slots: int = 4) -> Throttle:
    return Throttle(max_concurrency=slots, rate=rate, pause_threshold=5.0, clock=clock)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_at_most_max_concurrency_in_flight(clock: FakeClock) -> None:
    throttle = _throttle(clock, slots=3)
    for _ in range(4):  # answers open the first round trip's window (see test_control)
        throttle.finish(await throttle.acquire(), Answer.ACCEPTED)
    clock.advance(1.0)  # ... and so does time
    tickets = [asyncio.ensure_future(throttle.acquire()) for _ in range(5)]
    await _settle()
    done = [t for t in tickets if t.done()]
    assert len(done) == 3
    assert throttle.stats().in_flight == 3
    assert throttle.stats().queued == 2
    throttle.finish(done[0].result(), Answer.ACCEPTED)
    await _settle()
    assert sum(t.done() for t in tickets) == 4
    await throttle.aclose()
    await asyncio.gather(*tickets, return_exceptions=True)


async def test_a_configured_rate_spaces_requests(clock: FakeClock) -> None:
    throttle = _throttle(clock, rate=10.0, slots=100)
    sent: list[float] = []
    for _ in range(5):
        ticket = await throttle.acquire()
        sent.append(ticket.sent_at)
        throttle.finish(ticket, Answer.ACCEPTED)
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert all(gap == pytest.approx(0.1) for gap in gaps[1:])
    await throttle.aclose()


async def test_a_retry_goes_ahead_of_new_calls_once_its_time_comes(clock: FakeClock) -> None:
    throttle = _throttle(clock, rate=10.0, slots=1)
    first = await throttle.acquire()
    queued = [asyncio.ensure_future(throttle.acquire()) for _ in range(3)]
    retry = asyncio.ensure_future(throttle.acquire(not_before=clock.monotonic() + 0.05))
    throttle.finish(first, Answer.ACCEPTED)
    await _settle()
    order: list[asyncio.Future[Ticket]] = []
    pending = [*queued, retry]
    while pending:
        await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for future in [f for f in pending if f.done()]:
            order.append(future)
            pending.remove(future)
            throttle.finish(future.result(), Answer.ACCEPTED)
    # The retry was due after 50 ms; the next turn came at 100 ms: it went first.
    assert order[0] is retry
    await throttle.aclose()


async def test_a_refusal_slows_every_queued_call(clock: FakeClock) -> None:
    throttle = _throttle(clock, rate=100.0, slots=10)
    ticket = await throttle.acquire()
    throttle.finish(ticket, Answer.REFUSED)
    assert throttle.stats().rate == pytest.approx(95.0)  # configured: a shallow first cut
    assert throttle.stats().rate_cuts == 1


async def test_a_refused_turn_that_caught_up_spaces_turns_strictly(clock: FakeClock) -> None:
    throttle = _throttle(clock, rate=100.0, slots=100)  # one turn every 10 ms
    throttle.finish(await throttle.acquire(), Answer.ACCEPTED)
    clock.advance(0.014)  # the pacer woke 4 ms late
    throttle.finish(await throttle.acquire(), Answer.ACCEPTED)
    clock.advance(0.006)
    caught_up = await throttle.acquire()  # on the token saved meanwhile
    assert caught_up.early
    throttle.finish(caught_up, Answer.REFUSED)
    stats = throttle.stats()
    assert (stats.rate_cuts, stats.rate_limited) == (1, 1)
    assert stats.rate == pytest.approx(95.0)  # configured: a shallow cut
    clock.advance(0.014)
    last = await throttle.acquire()
    throttle.finish(last, Answer.ACCEPTED)
    # Late again, but nothing catches up now: the next turn is a whole interval later
    # (and a margin more: with nobody else queued, this is the job's last second).
    following = await throttle.acquire()
    assert not following.early
    end_game_interval = strict_interval(95.0 * END_GAME_SPACING)
    assert following.sent_at - last.sent_at == pytest.approx(end_game_interval)
    await throttle.aclose()


async def test_a_refused_turn_gives_the_next_call_its_turn_at_once(clock: FakeClock) -> None:
    # A bucket of one refused a turn that arrived a moment early: its token comes a moment
    # later, not an interval later.
    throttle = _throttle(clock, rate=40.0, slots=100)
    for _ in range(3):
        turn_before = await throttle.acquire()
        throttle.finish(turn_before, Answer.ACCEPTED)
    refused = await throttle.acquire()
    clock.advance(0.001)
    throttle.finish(refused, Answer.REFUSED)
    assert throttle.stats().rate_cuts == 0  # how deep waits for the refund's answer
    refund = await throttle.acquire()
    # Spaced from the turn before the refused one (strictly now, and slower for this is
    # the job's last second: nothing else is queued), not an interval after the refused.
    interval = strict_interval(40.0 * END_GAME_SPACING)
    assert refund.sent_at == pytest.approx(turn_before.sent_at + interval)
    assert refund.sent_at - refused.sent_at < 0.1 * interval
    clock.advance(0.001)
    throttle.finish(refund, Answer.ACCEPTED)  # a near miss
    stats = throttle.stats()
    assert (stats.rate_cuts, stats.rate_limited) == (1, 1)
    assert stats.rate == pytest.approx(40.0 * NEAR_MISS_BETA)
    await throttle.aclose()


class _TickingClock(FakeClock):
    """A clock that moves a little on every reading, as a real one does."""

    def monotonic(self) -> float:
        self.now += 0.0001
        return self.now


async def test_turns_spaced_strictly_count_from_when_each_call_left() -> None:
    clock = _TickingClock()  # time moves between the turn's grant and its task running
    throttle = _throttle(clock, rate=100.0)
    throttle.finish(await throttle.acquire(), Answer.REFUSED)  # configured: spaced strictly
    first = await throttle.acquire()  # queued: the pacer grants it, its task runs later
    left_at = throttle._governor._last_turn
    assert left_at is not None
    assert left_at > first.sent_at
    second = await throttle.acquire()
    rate = throttle.stats().rate
    assert rate is not None
    assert second.sent_at - left_at >= 1.0 / rate
    for ticket in (first, second):
        throttle.finish(ticket, Answer.ACCEPTED)
    await throttle.aclose()


@pytest.mark.parametrize("clock_kind", [FakeClock, _TickingClock])
async def test_a_precise_sleep_yields_through_its_last_moment(
    clock_kind: type[FakeClock],
) -> None:
    clock = clock_kind()
    throttle = _throttle(clock, rate=100.0)
    started = clock.monotonic()
    await throttle._sleep_precisely(0.010, asyncio.Event())
    assert clock.monotonic() >= started + 0.010
    # One timer up to the last moment, which is spent yielding to the loop; a clock that
    # moves only when slept on sleeps through it instead.
    assert clock.sleeps[0] == pytest.approx(0.010 - PRECISE_SPIN)
    if clock_kind is _TickingClock:
        assert len(clock.sleeps) == 1
    else:
        assert clock.sleeps[1:] == [pytest.approx(PRECISE_SPIN)]
    woken = asyncio.Event()
    woken.set()
    before = clock.monotonic()
    await throttle._sleep_precisely(0.010, woken)
    assert clock.monotonic() - before < 0.001  # an event ends it at once
    await throttle.aclose()


async def test_fail_fast_gives_up_unsent_when_the_wait_is_known_to_be_too_long(
    clock: FakeClock,
) -> None:
    throttle = _throttle(clock, rate=2.0, slots=10)
    waiting = [asyncio.ensure_future(throttle.acquire()) for _ in range(4)]
    await _settle()
    with pytest.raises(c1iam.RateLimited) as raised:
        await throttle.acquire(give_up_at=clock.monotonic() + 1.0)
    assert raised.value.retry_after is not None
    assert raised.value.retry_after > 1.0
    assert throttle.stats().sent == 1  # it was not sent
    await throttle.aclose()
    await asyncio.gather(*waiting, return_exceptions=True)


async def test_fail_fast_gives_up_at_its_deadline_when_the_wait_was_unknown(
    clock: FakeClock,
) -> None:
    throttle = _throttle(clock, slots=1)
    first = await throttle.acquire()  # the only slot, held: the wait cannot be known
    started = clock.monotonic()
    with pytest.raises(c1iam.RateLimited):
        await throttle.acquire(give_up_at=started + 1.0)
    assert clock.monotonic() - started == pytest.approx(1.0)
    throttle.finish(first, Answer.ACCEPTED)
    await throttle.aclose()


async def test_close_ends_every_waiting_and_retrying_call_at_once(clock: FakeClock) -> None:
    throttle = _throttle(clock, rate=1.0, slots=1)
    first = await throttle.acquire()
    queued = asyncio.ensure_future(throttle.acquire())
    sleeping = asyncio.ensure_future(throttle.acquire(not_before=clock.monotonic() + 300.0))
    await _settle()
    started = clock.monotonic()
    await throttle.aclose()
    for call in (queued, sleeping):
        with pytest.raises(c1iam.C1IAMError, match="the session is closed"):
            await call
    assert clock.monotonic() == started  # promptly: nobody slept out their wait
    throttle.finish(first)
    with pytest.raises(c1iam.C1IAMError, match="closed"):
        await throttle.acquire()


async def test_a_cancelled_waiter_takes_no_turn(clock: FakeClock) -> None:
    throttle = _throttle(clock, rate=1.0, slots=5)
    first = await throttle.acquire()
    cancelled = asyncio.ensure_future(throttle.acquire())
    kept = asyncio.ensure_future(throttle.acquire())
    await _settle()
    cancelled.cancel()
    ticket = await kept
    assert ticket.sent_at - first.sent_at == pytest.approx(1.0)  # the next turn, not two
    await throttle.aclose()


async def test_finish_is_idempotent(clock: FakeClock) -> None:
    throttle = _throttle(clock, slots=1)
    ticket = await throttle.acquire()
    throttle.finish(ticket, Answer.REFUSED)
    throttle.finish(ticket, Answer.REFUSED)
    assert throttle.stats().rate_limited == 1
    assert throttle.stats().in_flight == 0
    await throttle.aclose()


async def test_every_retry_is_counted_an_immediate_one_too(clock: FakeClock) -> None:
    throttle = _throttle(clock, slots=2)
    throttle.finish(await throttle.acquire(not_before=clock.monotonic()), Answer.ACCEPTED)
    throttle.finish(await throttle.acquire(not_before=clock.monotonic() + 1.0), Answer.ACCEPTED)
    throttle.finish(await throttle.acquire(), Answer.ACCEPTED)
    assert throttle.stats().retries == 2
    await throttle.aclose()


class _BookingStore(LocalStore):
    """A shared store that books every turn at once, and remembers how it was asked."""

    shared = True

    def __init__(self) -> None:
        self.bookings: list[tuple[float | None, bool]] = []

    def state(self) -> StoreState:
        return StoreState(shared=True, sessions=2)

    async def reserve(self, rate: float | None, *, strict: bool = False) -> float:
        self.bookings.append((rate, strict))
        return 0.0


async def test_a_shared_schedule_books_turns_spaced_strictly_as_such(clock: FakeClock) -> None:
    # The shared schedule, not this session's pacer alone, must keep turns a strict interval
    # apart: another session's turn could otherwise reach a bucket of one too early.
    store = _BookingStore()
    throttle = Throttle(max_concurrency=4, rate=40.0, pause_threshold=5.0, clock=clock, store=store)
    throttle.finish(await throttle.acquire(), Answer.ACCEPTED)
    # Any refusal of a configured rate spaces turns strictly (see test_control).
    throttle.finish(await throttle.acquire(), Answer.REFUSED)
    throttle.finish(await throttle.acquire(), Answer.ACCEPTED)
    assert [strict for _, strict in store.bookings] == [False, False, True]
    await throttle.aclose()


# -- cancellation, closing and deadlines in the gaps between steps ---------------------------


async def test_a_call_cancelled_as_its_turn_is_granted_gives_its_slot_back(
    clock: FakeClock,
) -> None:
    # One slot: the first call's answer grants the queued call its turn, and the queued
    # call's task is cancelled before it runs again (a timeout, a task group cancelled, a
    # web request dropped, in that same step). Nobody holds the ticket: the slot is free.
    throttle = _throttle(clock, slots=1)
    first = await throttle.acquire()
    second = asyncio.ensure_future(throttle.acquire())
    await _settle()
    throttle.finish(first, Answer.ACCEPTED)  # grants the slot to `second`
    assert throttle.stats().in_flight == 1
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    stats = throttle.stats()
    assert (stats.in_flight, stats.sent) == (0, 1)
    third = await asyncio.wait_for(throttle.acquire(), timeout=1.0)
    throttle.finish(third, Answer.ACCEPTED)
    await throttle.aclose()


def _with_learned_window(throttle: Throttle) -> Throttle:
    """`throttle` as after a sliding window's first block: 3 calls in any 60 s."""
    governor = throttle._governor
    governor.window, governor.window_floor, governor.window_calls = 60.0, 60.0, 3
    governor._next_growth_test = math.inf
    return throttle


async def test_a_turn_given_back_unsent_is_not_counted_in_a_learned_window(
    clock: FakeClock,
) -> None:
    # A learned window of 3 calls a minute: a turn its caller never sent must not take
    # one of the three for a minute.
    throttle = _with_learned_window(_throttle(clock, slots=1))
    first = await throttle.acquire()
    cancelled = asyncio.ensure_future(throttle.acquire())
    await _settle()
    throttle.finish(first, Answer.ACCEPTED)  # grants `cancelled` its turn...
    cancelled.cancel()  # ... whose caller is gone before it ran again
    await asyncio.gather(cancelled, return_exceptions=True)
    started = clock.monotonic()
    for _ in range(2):  # the second and third of the window's calls
        ticket = await throttle.acquire()
        assert ticket.sent_at == started
        throttle.finish(ticket, Answer.ACCEPTED)
    await throttle.aclose()


async def test_a_probe_cancelled_as_it_is_granted_lets_the_next_probe_go(
    clock: FakeClock,
) -> None:
    throttle = _throttle(clock, rate=10.0, slots=4)
    tickets = [await throttle.acquire() for _ in range(4)]
    for ticket in tickets[:3]:
        throttle.finish(ticket, Answer.UNAVAILABLE)  # 503s in a row: an outage, probing
    assert throttle.stats().mode == "probing"
    first = asyncio.ensure_future(throttle.acquire())
    await asyncio.sleep(0)
    clock.advance(1.0)  # the first probe is due
    throttle.finish(tickets[3], Answer.NOTHING)  # the dispatcher grants the probe to `first`
    first.cancel()  # ... whose task is cancelled before it ran again
    with pytest.raises(asyncio.CancelledError):
        await first
    probe = await asyncio.wait_for(throttle.acquire(), timeout=1.0)
    assert probe.probe
    throttle.finish(probe, Answer.ACCEPTED)
    assert throttle.stats().mode != "probing"
    await throttle.aclose()


class _SlowJoinStore(LocalStore):
    """A shared store whose join takes a while (Redis slow to answer, up to its timeout)."""

    shared = True

    async def start(self, *, learn: Any, snapshot: Any, adopt: Any) -> None:
        await asyncio.Event().wait()


async def test_closing_while_the_shared_join_is_slow_ends_waiting_calls_with_closed(
    clock: FakeClock,
) -> None:
    # `aclose` cancels the join; the calls waiting for it were not cancelled by anyone,
    # and end as every waiting call does: with "the session is closed".
    throttle = Throttle(
        max_concurrency=4, rate=None, pause_threshold=5.0, clock=clock, store=_SlowJoinStore()
    )
    call = asyncio.ensure_future(throttle.acquire())
    await _settle()
    await throttle.aclose()
    await _settle()
    assert call.done()
    assert not call.cancelled()
    with pytest.raises(c1iam.C1IAMError, match="closed"):
        call.result()
    # A caller's own cancellation stays a cancellation.
    throttle = Throttle(
        max_concurrency=4, rate=None, pause_threshold=5.0, clock=clock, store=_SlowJoinStore()
    )
    call = asyncio.ensure_future(throttle.acquire())
    await _settle()
    call.cancel()
    await _settle()
    assert call.cancelled()
    await throttle.aclose()


async def test_fail_fast_is_refused_at_once_when_a_learned_window_is_full(
    clock: FakeClock,
) -> None:
    throttle = _with_learned_window(_throttle(clock, slots=4))
    for _ in range(3):
        ticket = await throttle.acquire()
        clock.advance(0.1)
        throttle.finish(ticket, Answer.ACCEPTED)
    started = clock.monotonic()
    with pytest.raises(c1iam.RateLimited) as raised:
        await throttle.acquire(give_up_at=started + 5.0)
    assert clock.monotonic() == started  # at once, unsent
    assert raised.value.retry_after is not None
    assert raised.value.retry_after > 59.0
    await throttle.aclose()


async def test_cancelled_calls_do_not_count_against_a_fail_fast_deadline(
    clock: FakeClock,
) -> None:
    # 10/s: three calls queued, thirty more queued behind them and cancelled (their
    # clients went away). A call with a 1 s deadline has three ahead: it leaves in 0.4 s.
    throttle = _throttle(clock, rate=10.0, slots=100)
    throttle.finish(await throttle.acquire(), Answer.ACCEPTED)
    live = [asyncio.ensure_future(throttle.acquire()) for _ in range(3)]
    gone = [asyncio.ensure_future(throttle.acquire()) for _ in range(30)]
    await asyncio.sleep(0)
    for task in gone:
        task.cancel()
    started = clock.monotonic()
    ticket = await throttle.acquire(give_up_at=started + 1.0)
    assert ticket.sent_at - started == pytest.approx(0.4)
    await throttle.aclose()
    await asyncio.gather(*live, *gone, return_exceptions=True)


async def test_fail_fast_is_not_refused_for_a_rate_wait_already_over(clock: FakeClock) -> None:
    # 1/s, one slot, a call in flight for 5 s: a token was saved meanwhile. A call with a
    # 0.5 s deadline waits for the slot only, and leaves when the slow call is answered.
    throttle = _throttle(clock, rate=1.0, slots=1)
    slow = await throttle.acquire()
    clock.advance(5.0)
    call = asyncio.ensure_future(throttle.acquire(give_up_at=clock.monotonic() + 0.5))
    await asyncio.sleep(0)
    clock.advance(0.1)
    throttle.finish(slow, Answer.ACCEPTED)
    ticket = await call
    assert ticket.sent_at == pytest.approx(slow.sent_at + 5.1)
    await throttle.aclose()
