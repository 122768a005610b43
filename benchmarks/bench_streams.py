"""Streaming benchmark: c1iam's stream against the tightest hand-written aiohttp loop.

    python -m benchmarks.bench_streams [--users 100000] [--page-size 100] [--rounds 9]

The fake server runs in a child process (the other core), seeded with `--users` users.
In one run, alternating round by round, it measures:

1. throughput, nothing else to do: items/s of the hand loop (GET, `json.loads` into
   dicts, follow `next`) and of `session.users.list()` (the same requests, plus typed,
   validated `User` models);
2. throughput with a consumer that awaits, per page, as long as a page fetch takes
   (the mean page time of round 1's hand loop; the await is calibrated, as the event
   loop rounds timeouts up to whole milliseconds): c1iam's read-ahead fetches and
   decodes the next page meanwhile, the hand loop cannot;
3. peak memory (max RSS of a fresh child process) while streaming `--users` and ten times
   as many: flat is the goal.

Median of the rounds; ratios are computed from the same round's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import aiohttp

import c1iam
from benchmarks._server import Served, served


async def hand_loop(server: Served, page_size: int, work: float) -> int:
    """The tightest loop a person would write with aiohttp for the same listing."""
    headers = {"Authorization": f"ApiKey {server.api_key}", "Api-Version": "v1"}
    count = 0
    cursor: str | None = None
    async with aiohttp.ClientSession(headers=headers) as http:
        while True:
            params = {"limit": str(page_size)}
            if cursor:
                params["cursor"] = cursor
            async with http.get(f"{server.accounts_url}/users", params=params) as answer:
                answer.raise_for_status()
                body: dict[str, Any] = json.loads(await answer.read())
            count += len(body["users"])
            if work:
                await asyncio.sleep(work)
            cursor = body.get("next")
            if not cursor:
                return count


async def c1iam_stream(server: Served, page_size: int, work: float) -> int:
    """The same listing through c1iam: typed models, checks, read-ahead."""
    count = 0
    async with c1iam.Session(
        server.api_key, accounts_url=server.accounts_url, workload_url=server.workload_url
    ) as session:
        async for page in session.users.list(page_size=page_size).pages():
            count += len(page.items)
            if work:
                await asyncio.sleep(work)
    return count


async def calibrate(target: float) -> tuple[float, float]:
    """The `asyncio.sleep` argument whose await really lasts about `target` seconds.

    The event loop rounds timeouts up to whole milliseconds, so `sleep(0.0015)` lasts
    about 2 ms: a consumer asked to "spend one page time" would spend more. Returns the
    argument and the measured duration.
    """
    best = (target, float("inf"), target)
    for step in range(1, 21):
        candidate = target * step / 20
        started = time.perf_counter()
        for _ in range(30):
            await asyncio.sleep(candidate)
        lasted = (time.perf_counter() - started) / 30
        if abs(lasted - target) < best[1]:
            best = (candidate, abs(lasted - target), lasted)
    return best[0], best[2]


async def timed(coroutine: Any) -> tuple[int, float]:
    started = time.perf_counter()
    count = await coroutine
    return count, time.perf_counter() - started


def memory_child(users: int, page_size: int) -> None:
    """Stream every user of a server with `users` users; print this process's max RSS."""

    async def stream(server: Served) -> int:
        return await c1iam_stream(server, page_size, 0.0)

    with served(users=users) as (server, _):
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        count = asyncio.run(stream(server))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"users": count, "baseline_kib": baseline, "peak_kib": peak}))


def measure_memory(users: int, page_size: int) -> dict[str, int]:
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench_streams",
            "--memory-child",
            str(users),
            "--page-size",
            str(page_size),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, int] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.page_size)
        return

    rows: dict[str, list[float]] = {k: [] for k in ("hand", "c1iam", "hand_work", "c1iam_work")}
    with served(users=args.users) as (server, _):
        pages = -(-args.users // args.page_size)
        work = work_lasts = page_time = 0.0
        for round_number in range(args.rounds):
            count, seconds = asyncio.run(timed(hand_loop(server, args.page_size, 0.0)))
            assert count == args.users, count
            rows["hand"].append(count / seconds)
            if round_number == 0:
                # The consumer's work: as long as a page fetch takes with nothing else to do.
                page_time = seconds / pages
                work, work_lasts = asyncio.run(calibrate(page_time))
            count, seconds = asyncio.run(timed(c1iam_stream(server, args.page_size, 0.0)))
            assert count == args.users, count
            rows["c1iam"].append(count / seconds)
            count, seconds = asyncio.run(timed(hand_loop(server, args.page_size, work)))
            rows["hand_work"].append(count / seconds)
            count, seconds = asyncio.run(timed(c1iam_stream(server, args.page_size, work)))
            rows["c1iam_work"].append(count / seconds)

    def ratio(numerator: str, denominator: str) -> float:
        return statistics.median(
            a / b for a, b in zip(rows[numerator], rows[denominator], strict=True)
        )

    print(
        f"users: {args.users}, page size: {args.page_size}, rounds: {args.rounds}; "
        f"page time of the hand loop (round 1): {page_time * 1000:.2f} ms; "
        f"consumer work per page: {work_lasts * 1000:.2f} ms (measured)"
    )
    print("| scenario | hand loop items/s | c1iam items/s | c1iam / hand |")
    print("|---|---|---|---|")
    print(
        f"| consumer does nothing | {statistics.median(rows['hand']):,.0f} | "
        f"{statistics.median(rows['c1iam']):,.0f} | {ratio('c1iam', 'hand'):.2f} |"
    )
    print(
        f"| consumer awaits one page time per page | "
        f"{statistics.median(rows['hand_work']):,.0f} | "
        f"{statistics.median(rows['c1iam_work']):,.0f} | "
        f"{ratio('c1iam_work', 'hand_work'):.2f} |"
    )
    if not args.skip_memory:
        small = measure_memory(args.users, args.page_size)
        large = measure_memory(args.users * 10, args.page_size)
        print()
        print("| users streamed | max RSS before | max RSS after |")
        print("|---|---|---|")
        for result in (small, large):
            print(
                f"| {result['users']:,} | {result['baseline_kib'] / 1024:.1f} MiB | "
                f"{result['peak_kib'] / 1024:.1f} MiB |"
            )


if __name__ == "__main__":
    main()
