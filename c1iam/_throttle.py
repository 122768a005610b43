"""Session-wide throttling: a pacer, a concurrency limiter and a pause gate.

Every request of a session, from any task or stream, passes `Throttle.acquire()`:

1. the **pause gate**: after a 503, or a `Retry-After` of `pause_threshold` or more, no
   new request leaves until the pause ends (nothing sent earlier could succeed);
2. the **pacer**: a token bucket, served in FIFO order by one pacing task, so a rate cut
   or a pause takes effect at once for every waiter (10,000 tasks of an
   `asyncio.gather` included) instead of after their pre-booked slots;
3. the **concurrency limiter**: an anyio `CapacityLimiter` of `max_concurrency` slots.

Waiting for (1) and (2) happens before a slot is taken: a sleeping task never holds one.
A turn belongs to an *epoch*: a rate cut or a pause starts a new one, and a task whose
turn was granted in an older epoch queues again once it has its slot. Otherwise the
thousands of tasks of a `gather` that passed an open pacer before the first 429 would
all still be sent at full speed.

The rate is either configured (a ceiling) or learned. Either way a 429 cuts it and it
grows back with CUBIC (RFC 9438), as botocore's "adaptive" retry mode does: after a cut
to `beta * W_max` the rate climbs fast at first, flattens near the last rate that was
refused (`W_max`), then probes beyond it. A plain AIMD sawtooth would spend half its
time far below the server's limit; CUBIC's plateau keeps the average close to it.
Only one cut is made per congestion episode: a 429 for a request sent before the last
cut is the same congestion, already answered (as TCP does once per round trip).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from typing import Final, Protocol

import anyio
import attrs

__all__ = [
    "Clock",
    "CubicRate",
    "SystemClock",
    "Throttle",
    "ThrottleStats",
    "TokenBucket",
]

# CUBIC constants, as botocore's adaptive mode uses them (RFC 9438 uses C = 0.4, beta = 0.7).
CUBIC_SCALE: Final = 0.4
CUBIC_BETA: Final = 0.7
# The learned rate never drops below this (requests per second), so a session always moves.
MIN_RATE: Final = 0.5
# A learned rate never grows beyond this multiple of the rate actually sent: an idle
# session must not "learn" a rate it never tried.
MAX_GROWTH_OVER_SENT: Final = 2.0
# The window over which sent and accepted rates are measured, in seconds.
MEASURE_WINDOW: Final = 1.0
# Tokens the pacer's bucket may save: a little over one, so that the pacer waking a
# moment late does not lose that moment (at 50/s, 1 ms late on every request added 5 %
# to a bulk run), yet a session that was idle sends no burst worth speaking of.
BUCKET_CAPACITY: Final = 2.0
_TOKEN_EPSILON: Final = 1e-9


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
        """`anyio.sleep(seconds)`."""
        await anyio.sleep(seconds)


@attrs.define
class TokenBucket:
    """A token bucket (pure): `rate` tokens a second, at most `capacity` saved up.

    `rate=None` is an open bucket: every token is free.
    """

    rate: float | None
    capacity: float = 1.0
    tokens: float = 1.0
    updated: float | None = None

    def delay(self, now: float) -> float:
        """Seconds until a token is available (0.0 when one is)."""
        self._refill(now)
        # With a tolerance: after sleeping exactly the delay asked, floating point can
        # leave 0.9999999999999998 tokens, and the caller would spin on a 1e-16 s wait.
        if self.rate is None or self.tokens >= 1.0 - _TOKEN_EPSILON:
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> bool:
        """Take a token if one is available."""
        if self.delay(now) > 0.0:
            return False
        if self.rate is not None:
            self.tokens -= 1.0
        return True

    def set_rate(self, rate: float | None, now: float) -> None:
        """Change the rate; tokens saved so far are kept (up to the capacity)."""
        self._refill(now)
        self.rate = rate

    def drain(self, now: float) -> None:
        """Forget saved tokens (after a pause, nothing should leave in a burst)."""
        self._refill(now)
        self.tokens = min(self.tokens, 0.0)

    def _refill(self, now: float) -> None:
        if self.updated is not None and self.rate is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now


class _RateMeter:
    """Events per second over the last `MEASURE_WINDOW` seconds (pure)."""

    def __init__(self) -> None:
        self._times: collections.deque[float] = collections.deque()

    def record(self, now: float) -> None:
        self._times.append(now)
        self._trim(now)

    def rate(self, now: float) -> float:
        self._trim(now)
        return len(self._times) / MEASURE_WINDOW

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] <= now - MEASURE_WINDOW:
            self._times.popleft()


@attrs.define
class CubicRate:
    """The rate a session may send at, cut on 429 and regrown with CUBIC (pure).

    `ceiling` is the configured rate (`None`: learn it; the rate starts open).
    `rate` is `None` while open, else requests per second.
    """

    ceiling: float | None
    rate: float | None = attrs.field(
        default=attrs.Factory(lambda self: self.ceiling, takes_self=True)
    )
    last_max: float = 0.0
    last_cut: float | None = None
    _k: float = 0.0
    _sent: _RateMeter = attrs.field(factory=_RateMeter)
    _accepted: _RateMeter = attrs.field(factory=_RateMeter)

    def on_sent(self, now: float) -> None:
        """A request left."""
        self._sent.record(now)

    def on_accepted(self, now: float) -> None:
        """A request was answered with anything but 429; the rate may grow."""
        self._accepted.record(now)
        if self.last_cut is None or self.rate is None:
            return
        cubic = CUBIC_SCALE * (now - self.last_cut - self._k) ** 3 + self.last_max
        grown = min(cubic, MAX_GROWTH_OVER_SENT * max(self._sent.rate(now), MIN_RATE))
        self.rate = max(self.rate, grown)
        if self.ceiling is not None:
            self.rate = min(self.rate, self.ceiling)

    def on_throttled(self, sent_at: float, now: float) -> bool:
        """A request sent at `sent_at` got a 429: cut the rate, once per episode.

        Returns whether the rate was cut.
        """
        if self.last_cut is not None and sent_at < self.last_cut:
            return False
        # First 429 of an open session: what the server accepted over the last window is
        # the best estimate of its limit (botocore uses the sending rate, which at start-up
        # is far above the limit and takes several cuts to come down).
        reference = max(self._accepted.rate(now), MIN_RATE) if self.rate is None else self.rate
        self.last_max = reference
        self.last_cut = now
        self._k = (self.last_max * (1.0 - CUBIC_BETA) / CUBIC_SCALE) ** (1.0 / 3.0)
        self.rate = max(MIN_RATE, reference * CUBIC_BETA)
        return True


@attrs.frozen(kw_only=True)
class ThrottleStats:
    """A snapshot of a session's throttle, for logs and metrics.

    - `rate`: requests per second allowed now (`None`: not limited).
    - `in_flight`: requests sent and not yet answered.
    - `queued`: requests waiting for their turn (pause, pacing or a free slot).
    - `sent`, `retries`, `rate_limited` (429 answers), `rate_cuts`: counts since the start.
    - `paused_seconds`: total time the session was held by pauses.
    - `paused_for`: seconds left of the current pause (0.0 when none).
    """

    rate: float | None
    in_flight: int
    queued: int
    sent: int
    retries: int
    rate_limited: int
    rate_cuts: int
    paused_seconds: float
    paused_for: float


class Throttle:
    """The session-wide gate every request passes (see the module docstring)."""

    def __init__(self, *, max_concurrency: int, rate: float | None, clock: Clock) -> None:
        self._clock = clock
        self._limiter = anyio.CapacityLimiter(max_concurrency)
        self._control = CubicRate(ceiling=rate)
        self._bucket = TokenBucket(rate=rate, capacity=BUCKET_CAPACITY)
        self._paused_until = 0.0
        self._paused_seconds = 0.0
        self._waiters: collections.deque[asyncio.Future[int]] = collections.deque()
        self._epoch = 0
        self._pacer: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._waiting_for_slot = 0
        self._sent = 0
        self._retries = 0
        self._rate_limited = 0
        self._rate_cuts = 0

    # -- the way in -------------------------------------------------------------------

    async def acquire(self) -> float:
        """Wait for the pause, a token and a slot; return the send time (monotonic)."""
        while True:
            epoch = await self._take_turn()
            self._waiting_for_slot += 1
            try:
                await self._limiter.acquire()
            finally:
                self._waiting_for_slot -= 1
            now = self._clock.monotonic()
            if now >= self._paused_until and epoch == self._epoch:
                break
            # The rate was cut, or a pause began, while this request waited for a slot:
            # its turn was granted under rules that no longer hold, so it queues again.
            self._limiter.release()
        self._sent += 1
        self._control.on_sent(now)
        return now

    def release(self) -> None:
        """Give the slot back (always, whatever the outcome)."""
        self._limiter.release()

    async def _take_turn(self) -> int:
        """Wait for a turn; the epoch it was granted in."""
        now = self._clock.monotonic()
        if not self._waiters and now >= self._paused_until and self._bucket.take(now):
            return self._epoch  # the fast path: a token at hand, no pause, nobody queued
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._pacer is None or self._pacer.done():
            self._pacer = asyncio.get_running_loop().create_task(self._pace())
        # Cancelling this task cancels the future, and the pacer skips it. A turn granted
        # just as the task was cancelled is wasted: that costs one token, nothing else.
        return await waiter

    async def _pace(self) -> None:
        """Grant turns in FIFO order, one token at a time, honouring pauses."""
        while self._waiters:
            now = self._clock.monotonic()
            wait = max(self._paused_until - now, self._bucket.delay(now))
            if wait > 0.0:
                # Woken early when the rate or the pause changes, so the new value rules.
                self._wakeup.clear()
                sleeper = asyncio.ensure_future(self._clock.sleep(wait))
                woken = asyncio.ensure_future(self._wakeup.wait())
                try:
                    await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleeper.cancel()
                    woken.cancel()
                continue
            waiter = self._waiters.popleft()
            if waiter.done():
                continue  # its task was cancelled while queued
            self._bucket.take(now)
            waiter.set_result(self._epoch)

    # -- what the answers tell --------------------------------------------------------

    def on_answered(self, sent_at: float, *, rate_limited: bool) -> None:
        """Feed an answer back: a 429 cuts the shared rate, anything else lets it grow."""
        now = self._clock.monotonic()
        if rate_limited:
            self._rate_limited += 1
            if self._control.on_throttled(sent_at, now):
                self._rate_cuts += 1
                self._epoch += 1
                self._bucket.set_rate(self._control.rate, now)
                self._wakeup.set()
        else:
            before = self._control.rate
            self._control.on_accepted(now)
            if self._control.rate != before:
                self._bucket.set_rate(self._control.rate, now)

    def pause(self, seconds: float) -> None:
        """Hold every new request of the session for `seconds` (a pause never shortens)."""
        now = self._clock.monotonic()
        until = now + seconds
        if until > self._paused_until:
            self._paused_seconds += until - max(now, self._paused_until)
            self._paused_until = until
            self._epoch += 1
            self._bucket.drain(now)
            self._wakeup.set()

    def note_retry(self) -> None:
        """Count a retry (for `stats`)."""
        self._retries += 1

    def stats(self) -> ThrottleStats:
        """A snapshot for logs and metrics."""
        now = self._clock.monotonic()
        limiter = self._limiter.statistics()
        return ThrottleStats(
            rate=self._control.rate,
            in_flight=limiter.borrowed_tokens,
            queued=sum(1 for w in self._waiters if not w.done()) + self._waiting_for_slot,
            sent=self._sent,
            retries=self._retries,
            rate_limited=self._rate_limited,
            rate_cuts=self._rate_cuts,
            paused_seconds=self._paused_seconds,
            paused_for=max(0.0, self._paused_until - now),
        )

    async def aclose(self) -> None:
        """Stop the pacer; queued requests are cancelled."""
        for waiter in self._waiters:
            waiter.cancel()
        self._waiters.clear()
        if self._pacer is not None:
            self._pacer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pacer
            self._pacer = None
