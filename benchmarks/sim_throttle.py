"""The throttle sweep on virtual time: the real `Session` and `Throttle`, no sockets.

    python -m benchmarks.sim_throttle [--rate 40] [--jitter 0 0.001 0.003] [--latency 0.001]
                                      [--spikes 0] [--seeds 1]

Every shape of `bench_throttle`, run in well under a minute on virtual time
(`benchmarks/_virtual.py`), with the server's arrival times jittered at random by up to
`--jitter` seconds: what a busy event loop adds, and what a token bucket with a burst of
one punishes (it refuses any request that arrives a moment early). `--spikes` is the
share of requests held up 2-11 ms more, as a shared machine's event loops now and then
hold one (a noisy stretch); `--seeds` runs each cell that many times, with different
arrival times, and shows the worst (rare events make one run a matter of luck).
`--latency` is the round trip (1 ms, as on loopback; a real API is 50-300 ms away, and
every answer the throttle learns from comes that much later). Use it to tune; the figures
that count on loopback are `bench_throttle`'s, over real HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import math

from benchmarks._virtual import SimulatedServer, run_virtual, simulated_session
from c1iam._sansio import Api, Call
from c1iam.testing import Outages, RateLimit
from c1iam.testing._faults import RetryAfterStyle


def scenario(
    limit: RateLimit,
    outages: Outages | None,
    calls: int,
    *,
    rate: float | None,
    jitter: float,
    latency: float = 0.001,
    concurrency: int = 16,
    spikes: float = 0.0,
    seed: int = 1,
) -> tuple[float, float]:
    """(seconds to finish `calls` modifies, share of answers that were 429)."""
    server = SimulatedServer(
        limit, outages, latency=latency, jitter=jitter, spikes=spikes, seed=seed
    )

    async def main() -> float:
        session = simulated_session(server, max_concurrency=concurrency, rate=rate)
        async with session:
            loop = asyncio.get_running_loop()
            started = loop.time()
            call = Call(api=Api.ACCOUNTS, method="POST", path="/users/x", json={})
            await asyncio.gather(*(session._request(call) for _ in range(calls)))
            return loop.time() - started

    elapsed = run_virtual(main)
    return elapsed, server.statuses.get(429, 0) / sum(server.statuses.values())


def best(limit: RateLimit, calls: int, extra: float = 0.0) -> float:
    """The best possible time: N/R, or the start of a sliding window's last window."""
    if limit.window is not None:
        return (math.ceil(calls / limit.burst) - 1) * limit.window + extra
    return calls / limit.rate + extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--jitter", type=float, nargs="+", default=[0.0, 0.001, 0.003])
    parser.add_argument("--latency", type=float, default=0.001, help="round trip (s)")
    parser.add_argument(
        "--spikes", type=float, default=0.0, help="share of requests held up 2-11 ms more"
    )
    parser.add_argument(
        "--seeds", type=int, default=1, help="runs of each cell (the worst is shown)"
    )
    args = parser.parse_args()
    rate = args.rate
    rows: list[tuple[str, RateLimit, Outages | None, int, float | None, float]] = []
    for multiple in (10, 50):
        n = int(multiple * rate)
        for burst in (1, 5, int(rate)):
            for style in ("seconds", "none"):
                limit = RateLimit(rate=rate, burst=burst, retry_after=style)
                rows.append(
                    (f"bucket, burst {burst}, Retry-After {style}", limit, None, n, None, 0)
                )
            limit = RateLimit(rate=rate, burst=burst)
            rows.append((f"bucket, burst {burst}, rate=R configured", limit, None, n, rate, 0))
        burst5 = RateLimit(rate=rate, burst=5)
        rows.append(("burst 5, one in 97 a 503", burst5, Outages(every=97), n, None, 0))
        maintenance = Outages(maintenance=[(2.0, 4.0)])
        rows.append(("burst 5, 4 s maintenance", burst5, maintenance, n, None, 4.0))
        for calls in (500, 50):
            window_styles: tuple[RetryAfterStyle, ...] = ("none", "seconds")
            for style in window_styles:
                window = RateLimit.sliding_window(calls=calls, seconds=6.0, retry_after=style)
                m = int(multiple * math.ceil(window.rate))
                label = f"sliding window {calls} per 6 s, Retry-After {style}"
                rows.append((label, window, None, m, None, 0))
    jitters = " | ".join(f"jitter {j * 1000:g} ms" for j in args.jitter)
    spikes = f", {args.spikes:.1%} held up 2-11 ms" if args.spikes else ""
    seeds = f"; the worst of {args.seeds} runs" if args.seeds > 1 else ""
    print(
        f"server R = {rate:g}/s, round trip {args.latency * 1000:g} ms{spikes}; "
        f"time / best, 429 share{seeds}\n"
    )
    print(f"| server | N | {jitters} |")
    print("|---|---|" + "---|" * len(args.jitter))
    for label, limit, outages, n, client_rate, extra in rows:
        cells = []
        for jitter in args.jitter:
            runs = [
                scenario(
                    limit,
                    outages,
                    n,
                    rate=client_rate,
                    jitter=jitter,
                    latency=args.latency,
                    spikes=args.spikes,
                    seed=seed,
                )
                for seed in range(1, args.seeds + 1)
            ]
            elapsed = max(run[0] for run in runs)
            share = max(run[1] for run in runs)
            cells.append(f"{elapsed / best(limit, n, extra):.3f}, {share:.1%}")
        print(f"| {label} | {n} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
