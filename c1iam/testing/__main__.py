"""`python -m c1iam.testing`: serve the fake until Ctrl-C (no `cli` extra needed).

The same throttling shapes as `c1iam fake-server`: a token bucket (`--rate-limit`,
`--burst`), Deep Security's sliding window (`--sliding-window 500/60`), isolated 503s
(`--unavailable-every`) and maintenance windows (`--maintenance 2:4`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from ._faults import Outages, RateLimit, parse_maintenance, parse_sliding_window
from ._server import FakeCloudOne


async def serve(args: argparse.Namespace, limit: RateLimit | None, outages: Outages | None) -> None:
    """Serve until cancelled, after printing where."""
    async with FakeCloudOne(
        users=args.users, roles=args.roles, seed=args.seed, host=args.host, port=args.port
    ) as fake:
        fake.rate_limit = limit
        fake.outages = outages
        if limit is not None:
            print(f"rate limit:   {limit.describe()}, Retry-After {limit.retry_after}")
        print(f"accounts_url: {fake.accounts_url}")
        print(f"workload_url: {fake.workload_url}")
        print(f"api key:      {fake.api_key}  (a fake key, for this fake only)")
        print("Ctrl-C to stop.", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    """Parse the arguments and serve."""
    parser = argparse.ArgumentParser(prog="python -m c1iam.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--roles", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    limits = parser.add_mutually_exclusive_group()
    limits.add_argument("--rate-limit", type=float, help="requests per second (token bucket)")
    limits.add_argument("--sliding-window", type=parse_sliding_window, metavar="CALLS/SECONDS")
    parser.add_argument("--burst", type=int, default=5)
    parser.add_argument(
        "--retry-after", choices=["seconds", "http-date", "none"], default="seconds"
    )
    parser.add_argument("--unavailable-every", type=int, metavar="N")
    parser.add_argument(
        "--maintenance",
        type=parse_maintenance,
        action="append",
        default=[],
        metavar="START:SECONDS",
    )
    args = parser.parse_args()
    limit: RateLimit | None = None
    if args.sliding_window is not None:
        calls, seconds = args.sliding_window
        limit = RateLimit.sliding_window(calls=calls, seconds=seconds, retry_after=args.retry_after)
    elif args.rate_limit is not None:
        limit = RateLimit(rate=args.rate_limit, burst=args.burst, retry_after=args.retry_after)
    outages = (
        Outages(every=args.unavailable_every, maintenance=args.maintenance)
        if args.unavailable_every is not None or args.maintenance
        else None
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args, limit, outages))


if __name__ == "__main__":
    main()
