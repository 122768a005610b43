"""The shared throttle on a real Redis: several sessions, in one process and in several.

Real time here (Redis' own clock books the schedule), kept short: every wait is a poll
of a few tens of milliseconds, bounded.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import pytest

import c1iam
import c1iam._redis
from c1iam._control import Mode, strict_interval
from c1iam._store import Snapshot
from c1iam._throttle import SystemClock
from c1iam.testing import FakeCloudOne, RateLimit

pytestmark = pytest.mark.anyio

FAIL_FAST = c1iam.RetryPolicy(fail_fast=True, deadline=5.0)


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloudOne]:
    async with FakeCloudOne(users=40, seed=3) as server:
        yield server


def shared_session(fake: FakeCloudOne, url: str, prefix: str, **options: Any) -> c1iam.Session:
    return c1iam.Session(
        fake.api_key,
        accounts_url=fake.accounts_url,
        workload_url=fake.workload_url,
        shared_throttle=url,
        shared_throttle_prefix=prefix,
        **options,
    )


async def eventually(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    """Poll `condition` until it holds (it depends on a background sync with Redis)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "did not happen in time"
        await asyncio.sleep(0.01)


async def refused_once(session: c1iam.Session, user_id: str) -> None:
    with pytest.raises(c1iam.RateLimited):
        await session.users.describe(user_id)


async def test_a_cut_by_one_session_slows_every_session(
    fake: FakeCloudOne, redis_url: str, redis_prefix: str
) -> None:
    users = list(fake.users)
    fake.rate_limit = RateLimit(rate=0.01, burst=1, retry_after="none")
    async with (
        shared_session(fake, redis_url, redis_prefix, rate=20, retry=FAIL_FAST) as first,
        shared_session(fake, redis_url, redis_prefix, rate=20, retry=FAIL_FAST) as second,
    ):
        await second.users.describe(users[0])  # joins; takes the server's only token
        await refused_once(first, users[1])
        assert first.stats().rate_cuts == 1
        cut = first.stats().rate
        assert cut is not None
        assert cut < 20
        await eventually(lambda: second.stats().rate == cut)
        stats = second.stats()
        assert stats.shared
        assert stats.shared_sessions == 2
        assert stats.rate_limited == 0  # the other session's 429 is not this one's
        assert first.stats().rate_limited == 1


async def _booked_waits(url: str, prefix: str, *, strict: bool) -> list[float]:
    """Three turns booked back to back at 40/s on a fresh schedule: the wait for each."""
    store = c1iam._redis.RedisStore(
        url, scope=f"strict-{strict}", prefix=prefix, clock=SystemClock()
    )
    await store.start(
        learn=lambda _: None,
        snapshot=lambda: Snapshot(rate=None, mode=Mode.OPEN, hold_until=None),
        adopt=lambda _: None,
    )
    try:
        assert store.state().shared
        return [await store.reserve(40.0, strict=strict) for _ in range(3)]
    finally:
        await store.aclose()


async def test_turns_spaced_strictly_are_booked_a_strict_interval_apart(
    redis_url: str, redis_prefix: str
) -> None:
    # A server whose bucket holds one token refuses a turn that catches up, whoever's it
    # is: spaced strictly, the shared schedule books no tolerance, and the pacer's margin.
    loose = await _booked_waits(redis_url, redis_prefix, strict=False)
    strict = await _booked_waits(redis_url, redis_prefix, strict=True)
    # (Each booking takes a Redis round trip, well under the 3 ms allowed.)
    assert loose[0] == strict[0] == 0.0
    assert loose[1] == pytest.approx(0.5 / 40.0, abs=0.003)  # half an interval ahead
    assert strict[1] == pytest.approx(strict_interval(40.0), abs=0.003)
    assert strict[2] - strict[1] == pytest.approx(strict_interval(40.0), abs=0.003)
    assert strict_interval(40.0) > 1.0 / 40.0


async def test_a_pause_by_one_session_holds_every_session(
    fake: FakeCloudOne, redis_url: str, redis_prefix: str
) -> None:
    users = list(fake.users)
    # Retry-After: 100 s, beyond pause_threshold: the whole session holds.
    fake.rate_limit = RateLimit(rate=0.01, burst=1, retry_after="seconds")
    async with (
        shared_session(fake, redis_url, redis_prefix, retry=FAIL_FAST) as first,
        shared_session(fake, redis_url, redis_prefix, retry=FAIL_FAST) as second,
    ):
        await second.users.describe(users[0])
        await refused_once(first, users[1])
        assert first.stats().mode == "held"
        await eventually(lambda: second.stats().mode == "held")
        assert second.stats().paused_for > 90
        # Held, the other session's calls are not sent: fail-fast says so at once.
        sent = len(fake.requests)
        with pytest.raises(c1iam.RateLimited, match="not sent"):
            await second.users.describe(users[2])
        assert len(fake.requests) == sent


async def test_a_late_joiner_starts_at_the_learned_rate(
    fake: FakeCloudOne, redis_url: str, redis_prefix: str
) -> None:
    users = list(fake.users)
    fake.rate_limit = RateLimit(rate=0.01, burst=1, retry_after="none")
    async with shared_session(fake, redis_url, redis_prefix, rate=30, retry=FAIL_FAST) as first:
        await first.users.describe(users[0])
        await refused_once(first, users[1])
        learned = first.stats().rate
        assert learned is not None
        assert learned < 30
        fake.rate_limit = None
        # The learned rate reaches Redis with the next sync.
        await asyncio.sleep(3 * c1iam._redis.SYNC_INTERVAL)
        async with shared_session(fake, redis_url, redis_prefix, retry=FAIL_FAST) as late:
            assert late.stats().rate is None  # not joined before its first call
            await late.users.describe(users[2])
            assert late.stats().rate == pytest.approx(learned)
            assert late.stats().mode == "steady"
            assert late.stats().shared_sessions >= 1
        # Another prefix is another application: it starts open.
        async with shared_session(fake, redis_url, redis_prefix + "-other") as other:
            await other.users.describe(users[3])
            assert other.stats().rate is None


@pytest.mark.parametrize(
    "url",
    [
        "redis://:hunter2-password@127.0.0.1:{port}/0",
        "redis://127.0.0.1:{port}/0?password=hunter2-password",
    ],
)
async def test_unreachable_redis_throttles_alone_with_one_warning(
    fake: FakeCloudOne, caplog: pytest.LogCaptureFixture, url: str
) -> None:
    url = url.format(port=free_port())
    caplog.set_level(logging.WARNING, logger="c1iam")
    async with shared_session(fake, url, "c1iam-test-unreachable") as session:
        results = await asyncio.gather(*(session.users.describe(u) for u in list(fake.users)[:10]))
        stats = session.stats()
    assert len(results) == 10
    assert len(fake.requests) == 10  # nothing lost, nothing sent twice
    assert not stats.shared
    assert stats.shared_error is not None
    assert "unreachable" in stats.shared_error
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "hunter2" not in caplog.text + stats.shared_error


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """A throwaway redis-server of our own on a free port, to stop and start again."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    server = RedisServer(binary)
    server.start()
    yield server
    server.stop()


async def test_redis_stopped_mid_run_loses_nothing_and_rejoins(
    fake: FakeCloudOne,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(c1iam._redis, "RECONNECT_INTERVAL", 0.05)
    caplog.set_level(logging.INFO, logger="c1iam")
    users = list(fake.users)
    async with shared_session(fake, redis_server.url, "c1iam-test-restart", rate=200) as session:
        await asyncio.gather(*(session.users.describe(u) for u in users[:10]))
        assert session.stats().shared
        redis_server.stop()
        # Calls made while Redis is gone, and in flight as it goes, all go through once.
        await asyncio.gather(*(session.users.describe(u) for u in users[10:30]))
        stats = session.stats()
        assert not stats.shared
        assert stats.shared_error is not None
        redis_server.start()
        await eventually(lambda: session.stats().shared)
        await asyncio.gather(*(session.users.describe(u) for u in users[30:40]))
    assert sorted(r.path for r in fake.requests) == sorted(f"/users/{u}" for u in users)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "answers again" in caplog.text


def _worker(
    accounts_url: str, api_key: str, user_ids: list[str], url: str, prefix: str, barrier: Any
) -> None:
    """A worker process: its own session on the shared key; fails if it never shared."""

    async def main() -> int:
        async with c1iam.Session(
            api_key, accounts_url=accounts_url, rate=40, shared_throttle=url,
            shared_throttle_prefix=prefix,
        ) as session:  # fmt: skip
            await session.users.describe(user_ids[0])
            barrier.wait()
            # Both have joined; a sync later, each knows of the other.
            await asyncio.sleep(3 * c1iam._redis.SYNC_INTERVAL)
            sharing = session.stats().shared_sessions
            await asyncio.gather(*(session.users.describe(u) for u in user_ids[1:]))
            return sharing

    raise SystemExit(0 if asyncio.run(main()) == 2 else 3)


async def test_two_processes_on_one_key_keep_one_rate(
    fake: FakeCloudOne, redis_url: str, redis_prefix: str
) -> None:
    # Both at the server's rate: unshared, they would send twice too fast.
    fake.rate_limit = RateLimit(rate=40, burst=5)
    users = list(fake.users)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(
            target=_worker,
            args=(fake.accounts_url, fake.api_key, users[k::2], redis_url, redis_prefix, barrier),
        )
        for k in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        await anyio.to_thread.run_sync(worker.join, 30)
    assert [worker.exitcode for worker in workers] == [0, 0]
    statuses = [r.status for r in fake.requests]
    assert statuses.count(200) == len(users)
    # 40 calls at 80/s against 40/s would see about a third refused.
    assert statuses.count(429) <= 3
