"""Virtual time for throttle experiments: the real `Session` and `Throttle`, no sockets.

An asyncio event loop whose clock jumps to the next timer instead of sleeping, and a
transport that answers from the fake server's own limiter shapes (`c1iam.testing`'s
`RateLimit` and `Outages`) after a fixed latency. A 60-second scenario runs in well under
a second, so a sweep over every server shape can guide tuning; the figures that count
are the ones of `bench_throttle`, over real HTTP.
"""

from __future__ import annotations

import asyncio
import random
import selectors
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import c1iam
from c1iam._sansio import Request, Response
from c1iam._throttle import Throttle
from c1iam.testing import Outages, RateLimit
from c1iam.testing._faults import format_retry_after

T = TypeVar("T")

WALL_OFFSET = 1_700_000_000.0
# How much later than its jitter a request held up by a busy event loop arrives (seconds).
SPIKE = (0.002, 0.011)


class _JumpingSelector(selectors.DefaultSelector):
    """Never waits: a select with a timeout moves the loop's clock instead."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualLoop | None = None

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = super().select(0)
        if not ready and timeout is not None and timeout > 0 and self.loop is not None:
            self.loop.now += timeout
        return ready


class VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time."""

    def __init__(self) -> None:
        selector = _JumpingSelector()
        super().__init__(selector)
        selector.loop = self
        self.now = 0.0

    def time(self) -> float:
        return self.now


class VirtualClock:
    """The throttle's `Clock` on the running virtual loop."""

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def time(self) -> float:
        return asyncio.get_running_loop().time() + WALL_OFFSET

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class SimulatedServer:
    """A transport that answers as a rate-limited, sometimes unavailable server."""

    def __init__(
        self,
        limit: RateLimit | None,
        outages: Outages | None,
        latency: float = 0.001,
        jitter: float = 0.0,
        spikes: float = 0.0,
        seed: int = 1,
    ) -> None:
        self.limiter = limit.limiter() if limit is not None else None
        self.outages = outages
        self.latency = latency
        # Up to `jitter` seconds more on the way in, at random: what a busy event loop
        # (the client's or the server's) adds, and what a burst-of-one bucket punishes.
        self.jitter = jitter
        # And this share of requests `SPIKE` later still: over real HTTP on a shared
        # machine, an event loop held up now and then (traced: the requests a bucket of
        # one refused followed one that reached the server 1.8-11 ms after its turn).
        self.spikes = spikes
        self._random = random.Random(seed)
        self.statuses: dict[int, int] = {}
        self.sent_times: list[tuple[float, int]] = []
        self._first: float | None = None
        self._count = 0

    async def send(self, request: Request) -> Response:
        delay = self.latency / 2 + self._random.uniform(0.0, self.jitter)
        if self.spikes and self._random.random() < self.spikes:
            delay += self._random.uniform(*SPIKE)
        await asyncio.sleep(delay)
        now = asyncio.get_running_loop().time()
        status, headers = self._decide(now)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.sent_times.append((now, status))
        await asyncio.sleep(self.latency / 2)
        body = b'{"id": "x"}' if status == 200 else b'{"message": "no"}'
        return Response(status=status, headers=headers, body=body)

    def _decide(self, now: float) -> tuple[int, Mapping[str, str]]:
        if self._first is None:
            self._first = now
        self._count += 1
        if self.outages is not None:
            outage = self.outages.unavailable(self._count, now - self._first)
            if outage is not None:
                value = outage[0]
                return 503, {} if value is None else {"Retry-After": value}
        if self.limiter is not None:
            wait = self.limiter.admit(now)
            if wait is not None:
                value = format_retry_after(self.limiter.limit.retry_after, wait, now + WALL_OFFSET)
                return 429, {} if value is None else {"Retry-After": value}
        return 200, {}

    async def aclose(self) -> None:
        return None


def run_virtual(main: Callable[[], Awaitable[T]]) -> T:
    """Run `main()` on a fresh virtual loop."""
    loop = VirtualLoop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def simulated_session(server: SimulatedServer, **options: Any) -> c1iam.Session:
    """A session whose transport is `server`, on virtual time."""
    clock = VirtualClock()
    session = c1iam.Session(
        "sim-key:sim-secret", accounts_url="http://127.0.0.1:1/api", clock=clock, **options
    )
    settings = session._settings
    session._random = random.Random(1)  # the retries' jitter too: every run the same
    session._transport = server
    session._throttle = Throttle(
        max_concurrency=settings.max_concurrency,
        rate=settings.rate,
        pause_threshold=settings.retry.pause_threshold,
        clock=clock,
    )
    return session
