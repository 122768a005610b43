"""Throttling benchmark: N modifies against a server limited to R requests/s.

    python -m benchmarks.bench_throttle [--requests 2000] [--rate 50] [--concurrency 32]

For each way the server answers 429 (`Retry-After` in whole seconds, rounded up as a
server does, and no `Retry-After` at all), in one run, each scenario against a fresh
server (its bucket full, `burst` = one second of tokens):

- (a) c1iam with `rate=R` configured;
- (b) c1iam learning the rate (`rate=None`);
- (c) a naive `asyncio.gather` over aiohttp with a semaphore of the same concurrency, each
  request retried on its own: after `Retry-After` when there is one, else after
  exponential backoff with full jitter (the usual hand-written client).

It reports completion time / (N / R) (1.00 is the server's limit) and the share of
answers that were 429.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Awaitable, Callable

import aiohttp

import c1iam
from benchmarks._server import Served, served


async def with_c1iam(server: Served, concurrency: int, rate: float | None) -> None:
    async with c1iam.Session(
        server.api_key,
        accounts_url=server.accounts_url,
        max_concurrency=concurrency,
        rate=rate,
        retry=c1iam.RetryPolicy(attempts=50, deadline=None),
    ) as session:
        await asyncio.gather(
            *(session.users.modify(user_id, state="disabled") for user_id in server.user_ids)
        )


async def naive(server: Served, concurrency: int, rate: float | None) -> None:
    headers = {"Authorization": f"ApiKey {server.api_key}", "Api-Version": "v1"}
    slots = asyncio.Semaphore(concurrency)

    async def modify(http: aiohttp.ClientSession, user_id: str) -> None:
        for attempt in range(50):
            async with (
                slots,
                http.post(
                    f"{server.accounts_url}/users/{user_id}", json={"state": "disabled"}
                ) as answer,
            ):
                await answer.read()
                if answer.status != 429:
                    answer.raise_for_status()
                    return
                retry_after = answer.headers.get("Retry-After")
            wait = (
                float(retry_after) if retry_after else random.uniform(0, min(30, 0.5 * 2**attempt))
            )
            await asyncio.sleep(wait)
        raise RuntimeError("gave up")

    async with aiohttp.ClientSession(headers=headers) as http:
        await asyncio.gather(*(modify(http, user_id) for user_id in server.user_ids))


Scenario = Callable[[Served, int, float | None], Awaitable[None]]


def run(
    scenario: Scenario,
    *,
    requests: int,
    rate: float,
    concurrency: int,
    retry_after: str,
    client_rate: float | None,
) -> tuple[float, float]:
    with served(
        users=requests,
        seed=1,
        send_user_ids=True,
        rate_limit={"rate": rate, "burst": int(rate), "retry_after": retry_after},
    ) as (server, statuses):
        started = time.perf_counter()
        asyncio.run(scenario(server, concurrency, client_rate))
        elapsed = time.perf_counter() - started
    answered = sum(statuses.values())
    return elapsed / (requests / rate), statuses.get(429, 0) / answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    print(
        f"N = {args.requests} modifies, server limit R = {args.rate:g}/s "
        f"(burst {int(args.rate)}), concurrency {args.concurrency}; N/R = "
        f"{args.requests / args.rate:.1f} s"
    )
    print()
    print("| server's 429 | client | time / (N/R) | 429 share |")
    print("|---|---|---|---|")
    scenarios: list[tuple[str, Scenario, float | None]] = [
        ("(a) c1iam, rate=R configured", with_c1iam, args.rate),
        ("(b) c1iam, rate learned", with_c1iam, None),
        ("(c) naive gather, per-request retry", naive, None),
    ]
    for retry_after in ("seconds", "none"):
        for name, scenario, client_rate in scenarios:
            ratio, share = run(
                scenario,
                requests=args.requests,
                rate=args.rate,
                concurrency=args.concurrency,
                retry_after=retry_after,
                client_rate=client_rate,
            )
            label = "Retry-After: seconds" if retry_after == "seconds" else "no Retry-After"
            print(f"| {label} | {name} | {ratio:.3f} | {share:.1%} |", flush=True)


if __name__ == "__main__":
    main()
