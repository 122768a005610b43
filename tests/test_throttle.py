"""The throttle: token bucket, CUBIC rate, pacer, limiter and pause, on a fake clock."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from c1iam._throttle import CUBIC_BETA, MIN_RATE, CubicRate, Throttle, TokenBucket
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio

# -- TokenBucket (pure) --------------------------------------------------------------------


def test_open_bucket_never_waits() -> None:
    bucket = TokenBucket(rate=None)
    assert all(bucket.take(0.0) for _ in range(1000))


@given(rate=st.floats(min_value=0.1, max_value=10_000), takes=st.integers(1, 50))
def test_bucket_delay_is_what_the_rate_implies(rate: float, takes: int) -> None:
    bucket = TokenBucket(rate=rate)
    now = 0.0
    for _ in range(takes):
        now += bucket.delay(now)
        assert bucket.take(now)
    # Starting with one token, n takes need (n - 1) / rate seconds.
    assert now == pytest.approx((takes - 1) / rate, rel=1e-6, abs=1e-9)


def test_bucket_saves_up_to_its_capacity_only() -> None:
    bucket = TokenBucket(rate=10.0, capacity=2.0)
    assert bucket.take(0.0)
    assert bucket.take(100.0)  # a long idle saves 2 tokens, not 1000
    assert bucket.take(100.0)
    assert bucket.delay(100.0) == pytest.approx(0.1)


def test_drained_bucket_refills_from_zero() -> None:
    bucket = TokenBucket(rate=4.0, capacity=1.0)
    bucket.drain(0.0)
    assert bucket.delay(0.0) == pytest.approx(0.25)


# -- CubicRate (pure) ----------------------------------------------------------------------


def _accept(control: CubicRate, times: list[float]) -> None:
    for when in times:
        control.on_sent(when)
        control.on_accepted(when)


def test_first_429_cuts_to_beta_times_the_accepted_rate() -> None:
    control = CubicRate(ceiling=None)
    assert control.rate is None
    _accept(control, [10.0 + (i + 1) / 50 for i in range(50)])  # 50 in the last second
    assert control.on_throttled(sent_at=11.0, now=11.0)
    assert control.rate == pytest.approx(50 * CUBIC_BETA)


def test_one_cut_per_congestion_episode() -> None:
    control = CubicRate(ceiling=100.0)
    assert control.on_throttled(sent_at=1.0, now=1.0)
    after_first = control.rate
    assert after_first is not None
    # Requests sent before the cut were part of the same congestion.
    assert not control.on_throttled(sent_at=0.99, now=1.01)
    assert control.rate == after_first
    # A request sent after the cut that is refused again is new congestion.
    assert control.on_throttled(sent_at=1.02, now=1.05)
    assert control.rate == pytest.approx(after_first * CUBIC_BETA)


def test_rate_grows_back_to_the_last_refused_rate_after_k_seconds() -> None:
    control = CubicRate(ceiling=None, rate=80.0)
    control.on_throttled(sent_at=0.0, now=0.0)
    k = (80.0 * (1 - CUBIC_BETA) / 0.4) ** (1 / 3)
    # Keep sending fast enough that the growth cap (2x sent rate) does not bind.
    _accept(control, [k - 1 + i / 200 for i in range(200)])
    assert control.rate == pytest.approx(80.0, rel=0.02)
    _accept(control, [k + 1.5 + i / 200 for i in range(200)])
    assert control.rate is not None
    assert control.rate > 80.0


def test_configured_rate_is_a_ceiling() -> None:
    control = CubicRate(ceiling=20.0)
    control.on_throttled(sent_at=0.0, now=0.0)
    _accept(control, [100.0 + i / 1000 for i in range(1000)])
    assert control.rate == 20.0


def test_rate_never_drops_below_the_floor() -> None:
    control = CubicRate(ceiling=1.0)
    for step in range(20):
        control.on_throttled(sent_at=float(step), now=float(step))
    assert control.rate == MIN_RATE


# -- Throttle (async, fake clock) ----------------------------------------------------------


async def test_at_most_max_concurrency_in_flight(clock: FakeClock) -> None:
    throttle = Throttle(max_concurrency=3, rate=None, clock=clock)
    release = asyncio.Event()
    peak = 0

    async def request() -> None:
        nonlocal peak
        await throttle.acquire()
        try:
            peak = max(peak, throttle.stats().in_flight)
            await release.wait()
        finally:
            throttle.release()

    tasks = [asyncio.create_task(request()) for _ in range(10)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert throttle.stats().in_flight == 3
    assert throttle.stats().queued == 7
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 3
    assert throttle.stats().in_flight == 0
    assert throttle.stats().sent == 10
    await throttle.aclose()


async def test_configured_rate_spaces_requests(clock: FakeClock) -> None:
    throttle = Throttle(max_concurrency=100, rate=20.0, clock=clock)

    async def request() -> float:
        sent_at = await throttle.acquire()
        throttle.release()
        return sent_at

    sent = await asyncio.gather(*(request() for _ in range(21)))
    assert max(sent) - min(sent) == pytest.approx(1.0, abs=1e-6)  # 20 gaps of 1/20 s
    gaps = [b - a for a, b in itertools.pairwise(sorted(sent))]
    assert min(gaps) >= 1 / 20 - 1e-9
    await throttle.aclose()


async def _acquire_and_release(throttle: Throttle) -> float:
    # A slot belongs to the task that took it (anyio's CapacityLimiter checks).
    sent_at = await throttle.acquire()
    throttle.release()
    return sent_at


async def test_waiting_for_a_token_holds_no_slot(clock: FakeClock) -> None:
    throttle = Throttle(max_concurrency=1, rate=1.0, clock=clock)
    first = await _acquire_and_release(throttle)
    waiting = asyncio.create_task(_acquire_and_release(throttle))
    await asyncio.sleep(0)
    assert throttle.stats().in_flight == 0
    assert throttle.stats().queued == 1
    second = await waiting
    assert second - first == pytest.approx(1.0)
    await throttle.aclose()


async def test_pause_holds_every_new_request(clock: FakeClock) -> None:
    throttle = Throttle(max_concurrency=4, rate=None, clock=clock)
    throttle.pause(30.0)
    assert throttle.stats().paused_for == pytest.approx(30.0)
    start = clock.monotonic()
    sent = await throttle.acquire()
    throttle.release()
    assert sent - start >= 30.0
    assert throttle.stats().paused_seconds == pytest.approx(30.0)
    await throttle.aclose()


async def test_a_pause_never_shortens_an_earlier_one(clock: FakeClock) -> None:
    throttle = Throttle(max_concurrency=4, rate=None, clock=clock)
    throttle.pause(10.0)
    throttle.pause(2.0)
    assert throttle.stats().paused_for == pytest.approx(10.0)
    await throttle.aclose()


async def test_rate_cut_applies_to_requests_already_queued(clock: FakeClock) -> None:
    throttle = Throttle(max_concurrency=100, rate=100.0, clock=clock)
    sent: list[float] = []

    async def request() -> None:
        sent.append(await throttle.acquire())
        throttle.release()

    tasks = [asyncio.create_task(request()) for _ in range(40)]
    await asyncio.gather(*tasks[:10])
    throttle.on_answered(sent[-1], rate_limited=True)
    await asyncio.gather(*tasks)
    late_gaps = [b - a for a, b in itertools.pairwise(sent[12:])]
    # Every request queued behind the cut leaves at the new rate, not the booked one.
    assert min(late_gaps) == pytest.approx(1 / (100.0 * CUBIC_BETA), rel=1e-3)
    assert throttle.stats().rate_cuts == 1
    await throttle.aclose()


async def test_cancelled_waiter_takes_no_turn(clock: FakeClock) -> None:
    throttle = Throttle(max_concurrency=1, rate=1.0, clock=clock)
    await _acquire_and_release(throttle)
    doomed = asyncio.create_task(_acquire_and_release(throttle))
    survivor = asyncio.create_task(_acquire_and_release(throttle))
    await asyncio.sleep(0)
    doomed.cancel()
    await survivor
    assert doomed.cancelled()
    assert throttle.stats().in_flight == 0
    assert throttle.stats().sent == 2
    await throttle.aclose()


async def test_stats_report_429s_and_retries(clock: FakeClock) -> None:
    throttle = Throttle(max_concurrency=2, rate=None, clock=clock)
    sent_at = await throttle.acquire()
    throttle.release()
    throttle.on_answered(sent_at, rate_limited=True)
    throttle.note_retry()
    stats = throttle.stats()
    assert (stats.rate_limited, stats.retries, stats.rate_cuts) == (1, 1, 1)
    assert stats.rate == MIN_RATE  # nothing was accepted yet: the floor
    await throttle.aclose()


async def test_turns_granted_before_a_cut_are_void(clock: FakeClock) -> None:
    throttle = Throttle(max_concurrency=1, rate=None, clock=clock)
    sent: list[float] = []
    holding = asyncio.Event()
    done_holding = asyncio.Event()

    async def first() -> None:
        sent.append(await throttle.acquire())
        holding.set()
        await done_holding.wait()
        throttle.release()

    async def other() -> None:
        sent.append(await throttle.acquire())
        throttle.release()

    holder = asyncio.create_task(first())
    await holding.wait()
    # While the rate is open, these pass the pacer at once and wait for the slot...
    others = [asyncio.create_task(other()) for _ in range(4)]
    for _ in range(3):
        await asyncio.sleep(0)
    assert throttle.stats().queued == 4
    # ...then a 429 cuts the rate: their turns are void, they queue at the new rate.
    throttle.on_answered(sent[0], rate_limited=True)
    done_holding.set()
    await asyncio.gather(holder, *others)
    rate = throttle.stats().rate
    assert rate is not None
    gaps = [b - a for a, b in itertools.pairwise(sent[1:])]
    assert min(gaps) >= 1 / rate - 1e-9
    await throttle.aclose()
