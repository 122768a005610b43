"""`python -m c1iam.testing`: serve the fake until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from ._server import FakeCloudOne


async def serve(host: str, port: int, users: int, roles: int, seed: int) -> None:
    """Serve until cancelled, after printing where."""
    async with FakeCloudOne(users=users, roles=roles, seed=seed, host=host, port=port) as fake:
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
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.users, args.roles, args.seed))


if __name__ == "__main__":
    main()
