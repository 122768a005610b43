"""Shared throttle benchmark: P worker processes on one API key, unshared against shared.

    python -m benchmarks.bench_shared [--rate 40] [--redis redis://127.0.0.1:6379/15]

N = 40 R `users.modify` calls in all, split evenly over P = 1, 2, 4, 8 worker processes,
each with its own `Session` (rate learned, the default) and one `asyncio.gather`, against
one fake server in a child process (`benchmarks/_server.py`) limited to R per key: a
token bucket with a burst of 5 (`Retry-After` in whole seconds), and Deep Security's
sliding window scaled by 1/10 (`RateLimit.sliding_window(calls=6 R, seconds=6)`, no
`Retry-After`). Each scenario gets a fresh server and fresh Redis keys.

"time / (N/R)" is the time from the moment every worker is ready until the last one is
done, over N/R; "429" the share of answers that were 429. Last, the Redis round trip a
request adds on loopback: the booking script (`RedisStore.reserve`), timed alone.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
import uuid
from multiprocessing.synchronize import Barrier
from typing import Any

import c1iam
from benchmarks._server import Served, served

SHAPES: dict[str, Any] = {
    "bucket, burst 5": lambda rate: {"rate": rate, "burst": 5, "retry_after": "seconds"},
    "sliding window 6 R per 6 s": lambda rate: {
        "rate": rate,
        "burst": int(6 * rate),
        "retry_after": "none",
        "window": 6.0,
    },
}


def _worker(
    server: Served, user_ids: list[str], redis_url: str | None, prefix: str, barrier: Barrier
) -> None:
    async def main() -> None:
        async with c1iam.Session(
            server.api_key,
            accounts_url=server.accounts_url,
            shared_throttle=redis_url,
            shared_throttle_prefix=prefix,
        ) as session:
            barrier.wait()
            await asyncio.gather(
                *(session.users.modify(user_id, state="disabled") for user_id in user_ids)
            )

    asyncio.run(main())


def run(
    workers: int, rate: float, multiple: int, shape: dict[str, Any], redis_url: str | None
) -> tuple[float, float]:
    """(time / (N/R), share of 429) for one scenario."""
    n = int(multiple * rate)
    context = multiprocessing.get_context("spawn")
    with served(users=n, seed=1, send_user_ids=True, rate_limit=shape) as (server, statuses):
        barrier = context.Barrier(workers + 1)
        prefix = f"c1iam-bench-{uuid.uuid4().hex[:8]}"
        ids = list(server.user_ids)
        processes = [
            context.Process(
                target=_worker, args=(server, ids[k::workers], redis_url, prefix, barrier)
            )
            for k in range(workers)
        ]
        for process in processes:
            process.start()
        barrier.wait()
        started = time.perf_counter()
        for process in processes:
            process.join()
        elapsed = time.perf_counter() - started
        if any(process.exitcode for process in processes):
            raise RuntimeError("a worker failed")
    answered = sum(statuses.values())
    return elapsed / (n / rate), statuses.get(429, 0) / answered


def redis_latency(redis_url: str, rounds: int = 2000) -> tuple[float, float]:
    """Median and 99th percentile (ms) of one booking on the shared schedule."""
    from c1iam._redis import RedisStore
    from c1iam._store import Snapshot
    from c1iam._throttle import SystemClock

    async def main() -> list[float]:
        store = RedisStore(
            redis_url, scope="latency", prefix=f"c1iam-bench-{uuid.uuid4().hex[:8]}",
            clock=SystemClock(),
        )  # fmt: skip
        await store.start(
            learn=lambda _: None,
            snapshot=lambda: Snapshot(rate=None, mode=c1iam._control.Mode.OPEN, hold_until=None),
            adopt=lambda _: None,
        )
        times = []
        try:
            for _ in range(rounds):
                started = time.perf_counter()
                # A rate far above what is booked: never a wait, only the round trip.
                await store.reserve(1e6)
                times.append((time.perf_counter() - started) * 1000)
        finally:
            await store.aclose()
        return times

    times = sorted(asyncio.run(main()))
    return statistics.median(times), times[int(0.99 * len(times))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4, 8])
    parser.add_argument("--multiple", type=int, default=40, help="N = this many R")
    parser.add_argument("--only", help="only the server shapes whose label contains this")
    args = parser.parse_args()
    rate, multiple = args.rate, args.multiple
    print(f"server R = {rate:g}/s, N = {int(multiple * rate)}, max_concurrency 16 per worker\n")
    print(
        "| server | P | unshared time / (N/R) | unshared 429 | shared time / (N/R) | shared 429 |"
    )
    print("|---|---|---|---|---|---|")
    for label, shape in SHAPES.items():
        if args.only is not None and args.only not in label:
            continue
        for workers in args.workers:
            alone = run(workers, rate, multiple, shape(rate), None)
            shared = run(workers, rate, multiple, shape(rate), args.redis)
            print(
                f"| {label} | {workers} | {alone[0]:.3f} | {alone[1]:.1%} "
                f"| {shared[0]:.3f} | {shared[1]:.1%} |",
                flush=True,
            )
    p50, p99 = redis_latency(args.redis)
    print(f"\nRedis booking round trip on loopback: p50 {p50:.3f} ms, p99 {p99:.3f} ms")


if __name__ == "__main__":
    main()
