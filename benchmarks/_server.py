"""Run the fake server in a child process, so the client's CPU and memory are its own."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from c1iam.testing import FakeCloudOne, Fault, Outages, RateLimit


@dataclass(frozen=True)
class Served:
    """Where the child's fake server listens."""

    accounts_url: str
    workload_url: str
    api_key: str
    user_ids: tuple[str, ...] = ()


def _serve(pipe: Connection, options: dict[str, Any]) -> None:
    async def main() -> None:
        rate_limit = options.pop("rate_limit", None)
        outages = options.pop("outages", None)
        send_user_ids = options.pop("send_user_ids", False)
        latency = options.pop("latency", 0.0)
        async with FakeCloudOne(**options) as fake:
            if latency:
                # Every request waits that long before the limiter sees it: a round trip.
                fake.inject(Fault.delay(latency, times=2**31))
            if rate_limit is not None:
                fake.rate_limit = RateLimit(**rate_limit)
            if outages is not None:
                fake.outages = Outages(**outages)
            user_ids = tuple(fake.users) if send_user_ids else ()
            pipe.send((fake.accounts_url, fake.workload_url, fake.api_key, user_ids))
            loop = asyncio.get_running_loop()
            # Serve until the parent says stop (or dies): then report what was answered.
            await loop.run_in_executor(None, pipe.recv)
            statuses: dict[int, int] = {}
            for request in fake.requests:
                statuses[request.status] = statuses.get(request.status, 0) + 1
            pipe.send(statuses)

    asyncio.run(main())


@contextlib.contextmanager
def served(**options: Any) -> Iterator[tuple[Served, dict[int, int]]]:
    """A fake server in a child process; after the block, the dict holds status counts."""
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(child, options))
    process.start()
    statuses: dict[int, int] = {}
    try:
        yield Served(*parent.recv()), statuses
        parent.send("stop")
        statuses.update(parent.recv())
    finally:
        process.join(timeout=30)
        if process.is_alive():
            process.kill()
