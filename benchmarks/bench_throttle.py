"""Throttling benchmark: a sweep over the server shapes users meet, worst row first.

    python -m benchmarks.bench_throttle [--rate 40] [--concurrency 16] [--quick] [--only TEXT]
        [--client TEXT] [--latency SECONDS]

N `users.modify` calls through one `asyncio.gather`, each scenario against a fresh fake
server in a child process (`benchmarks/_server.py`), side by side in one run:

- token buckets of R/s with a burst of 1, 5 and one second of tokens, answering 429 with
  `Retry-After` in whole seconds (rounded up, as servers do), as an HTTP-date, or without;
- isolated 503s (one request in 97, `Retry-After: 1`, every other one an HTML page);
- a 4 s maintenance window 2 s into the run (every request 503 with the seconds left);
- Deep Security's sliding window, time scaled by 1/10: its default 500 calls per 60 s as
  500 per 6 s, and a tighter 50 per 6 s;
- N = 10 R and N = 50 R; the rate learned (`rate=None`, the default), or configured;
- for contrast, the usual hand-written client: aiohttp, a semaphore, each request retried
  on its own after `Retry-After` or exponential backoff with full jitter;
- a web backend: 200 concurrent calls with `RetryPolicy(fail_fast=True, deadline=1)`
  against a 20/s server (burst 5): latency and the share that succeeded.

`--latency` holds every request that long at the server before its limiter sees it: a
round trip as long as a real API's (50-300 ms away), over real HTTP (the web backend stays
on loopback).

"time / best" is the completion time against the best possible: N/R for a bucket (plus
the maintenance window), for a sliding window the start of its last needed window. "429"
is the share of answers that were 429.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp

import c1iam
from benchmarks._server import Served, served

Client = Callable[[Served, int, float | None], Coroutine[Any, Any, None]]


async def with_c1iam(server: Served, concurrency: int, rate: float | None) -> None:
    async with c1iam.Session(
        server.api_key,
        accounts_url=server.accounts_url,
        max_concurrency=concurrency,
        rate=rate,
    ) as session:
        await asyncio.gather(
            *(session.users.modify(user_id, state="disabled") for user_id in server.user_ids)
        )


async def naive(server: Served, concurrency: int, rate: float | None) -> None:
    headers = {"Authorization": f"ApiKey {server.api_key}", "Api-Version": "v1"}
    slots = asyncio.Semaphore(concurrency)

    async def modify(http: aiohttp.ClientSession, user_id: str) -> None:
        for attempt in range(200):
            async with (
                slots,
                http.post(
                    f"{server.accounts_url}/users/{user_id}", json={"state": "disabled"}
                ) as answer,
            ):
                await answer.read()
                if answer.status not in (429, 503):
                    answer.raise_for_status()
                    return
                retry_after = answer.headers.get("Retry-After")
            wait = (
                float(retry_after)
                if retry_after and retry_after.isdigit()
                else random.uniform(0, min(30, 0.5 * 2**attempt))
            )
            await asyncio.sleep(wait)
        raise RuntimeError("gave up")

    async with aiohttp.ClientSession(headers=headers) as http:
        await asyncio.gather(*(modify(http, user_id) for user_id in server.user_ids))


def run(
    client: Client,
    *,
    requests: int,
    concurrency: int,
    client_rate: float | None,
    rate_limit: dict[str, Any],
    outages: dict[str, Any] | None = None,
    latency: float = 0.0,
) -> tuple[float, dict[int, int]]:
    with served(
        users=requests,
        seed=1,
        send_user_ids=True,
        rate_limit=rate_limit,
        outages=outages,
        latency=latency,
    ) as (server, statuses):
        started = time.perf_counter()
        asyncio.run(client(server, concurrency, client_rate))
        elapsed = time.perf_counter() - started
    return elapsed, statuses


def web_backend(rate: float) -> tuple[float, float, float]:
    """p50 and p100 latency (s), and the share that succeeded, of 200 fail-fast calls."""
    calls = 200
    latencies: list[float] = []
    successes = 0

    async def main(server: Served) -> None:
        nonlocal successes
        policy = c1iam.RetryPolicy(fail_fast=True, deadline=1.0)
        async with c1iam.Session(
            server.api_key, accounts_url=server.accounts_url, retry=policy
        ) as session:

            async def one(user_id: str) -> None:
                nonlocal successes
                started = time.perf_counter()
                try:
                    await session.users.modify(user_id, state="disabled")
                    successes += 1
                except c1iam.RateLimited:
                    pass
                latencies.append(time.perf_counter() - started)

            await asyncio.gather(*(one(user_id) for user_id in server.user_ids))

    limit = {"rate": rate, "burst": 5}
    with served(users=calls, seed=1, send_user_ids=True, rate_limit=limit) as (server, _):
        asyncio.run(main(server))
    return statistics.median(latencies), max(latencies), successes / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="N = 10 R only")
    parser.add_argument("--only", help="only the rows whose server label contains this")
    parser.add_argument("--client", help="only the rows whose client label contains this")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds each request is held (a round trip)"
    )
    args = parser.parse_args()
    rate, concurrency = args.rate, args.concurrency
    trip = f", round trip +{args.latency * 1000:g} ms" if args.latency else ""
    print(f"server R = {rate:g}/s, max_concurrency {concurrency}{trip}\n")
    print("| server | client | N | time / best | 429 | note |")
    print("|---|---|---|---|---|---|")
    learned_rows: list[tuple[str, int, float, float]] = []

    def row(
        label: str,
        client_label: str,
        client: Client,
        n: int,
        client_rate: float | None,
        limit: dict[str, Any],
        *,
        best: float,
        outages: dict[str, Any] | None = None,
        window: float = 0.0,
    ) -> None:
        if args.only is not None and args.only not in label:
            return
        if args.client is not None and args.client not in client_label:
            return
        elapsed, statuses = run(
            client,
            requests=n,
            concurrency=concurrency,
            client_rate=client_rate,
            rate_limit=limit,
            outages=outages,
            latency=args.latency,
        )
        answered = sum(statuses.values())
        share = statuses.get(429, 0) / answered
        ratio = elapsed / best
        note = ""
        if window:
            # Every request in the window is answered 503 (no isolated ones here).
            note = f"{statuses.get(503, 0) / window:.2f} requests/s in the window"
        print(
            f"| {label} | {client_label} | {n} | {ratio:.3f} | {share:.1%} | {note} |",
            flush=True,
        )
        if client is with_c1iam and client_rate is None:
            learned_rows.append((label, n, ratio, share))

    multiples = (10,) if args.quick else (10, 50)
    for multiple in multiples:
        n = int(multiple * rate)
        for burst, styles in ((1, ("seconds", "none")), (5, ("seconds", "http-date", "none"))):
            for style in styles:
                limit = {"rate": rate, "burst": burst, "retry_after": style}
                label = f"bucket, burst {burst}, Retry-After {style}"
                row(label, "learned", with_c1iam, n, None, limit, best=n / rate)
        second = {"rate": rate, "burst": int(rate), "retry_after": "seconds"}
        row("bucket, burst 1 s, Retry-After seconds", "learned", with_c1iam, n, None, second,
            best=n / rate)  # fmt: skip
        burst5 = {"rate": rate, "burst": 5, "retry_after": "seconds"}
        isolated = {"every": 97, "retry_after": 1.0}
        row("burst 5, one request in 97 a 503", "learned", with_c1iam, n, None, burst5,
            best=n / rate, outages=isolated)  # fmt: skip
        maintenance = {"maintenance": ((2.0, 4.0),), "retry_after": 1.0}
        row("burst 5, a 4 s maintenance window", "learned", with_c1iam, n, None, burst5,
            best=n / rate + 4.0, outages=maintenance, window=4.0)  # fmt: skip
        for calls in (500, 50):
            for style in ("none", "seconds"):
                window = {"rate": calls / 6.0, "burst": calls, "retry_after": style, "window": 6.0}
                m = int(multiple * math.ceil(calls / 6.0))
                best = (math.ceil(m / calls) - 1) * 6.0
                row(f"sliding window {calls} per 6 s, Retry-After {style}", "learned",
                    with_c1iam, m, None, window, best=best)  # fmt: skip
        for burst in (1, 5, int(rate)):
            limit = {"rate": rate, "burst": burst, "retry_after": "seconds"}
            row(f"bucket, burst {burst}", "rate=R configured", with_c1iam, n, rate, limit,
                best=n / rate)  # fmt: skip
        row("bucket, burst 5, Retry-After seconds", "naive gather", naive, n, None, burst5,
            best=n / rate)  # fmt: skip

    if args.only is not None or args.client is not None:
        return
    p50, p100, share = web_backend(20.0)
    print(
        f"\nfail-fast web backend (200 calls, deadline 1 s, server 20/s burst 5): "
        f"p50 {p50:.2f} s, p100 {p100:.2f} s, {share:.1%} succeeded"
    )
    print("\nworst learned rows:")
    for multiple in multiples:
        rows = [r for r in learned_rows if _multiple(r, rate) == multiple]
        worst_time = max(rows, key=lambda r: r[2])
        worst_share = max(rows, key=lambda r: r[3])
        print(f"- N = {multiple} R: time {worst_time[2]:.3f} ({worst_time[0]}); "
              f"429 {worst_share[3]:.1%} ({worst_share[0]})")  # fmt: skip


def _multiple(row: tuple[str, int, float, float], rate: float) -> int:
    """Which N = k R a row belongs to."""
    label, n = row[0], row[1]
    if "sliding" in label:
        calls = 500 if "500" in label else 50
        return round(n / math.ceil(calls / 6.0))
    return round(n / rate)


if __name__ == "__main__":
    main()
