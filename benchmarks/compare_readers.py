"""How much a way of reading `User`s matters to a stream: this tree's converter against
another revision's, on `bench_streams`' idle-consumer scenario, in one process.

    git show REV:c1iam/_converter.py > /tmp/other_converter.py
    python -m benchmarks.compare_readers /tmp/other_converter.py [--rounds 21]

The other revision's `_converter.py` is loaded beside this one (its models and helpers
are this tree's), and its `User` hook and this tree's are registered in turn on the
converter the streams use. Each round runs the hand loop, then both readers (in
alternating order), against one fake server in a child process; a ratio is the median of
the rounds' own ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
from typing import Any

from benchmarks._server import served
from benchmarks.bench_streams import c1iam_stream, hand_loop, timed
from c1iam import _converter
from c1iam.models import User


def load_other(path: str) -> Any:
    """The `User` structure hook of the `_converter.py` at `path`."""
    spec = importlib.util.spec_from_file_location("c1iam._other_converter", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.converter.get_structure_hook(User)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("other", help="another revision's c1iam/_converter.py")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    readers = {
        "other": load_other(args.other),
        "this": _converter.converter.get_structure_hook(User),
    }
    rows: dict[str, list[float]] = {name: [] for name in ("hand", *readers)}
    with served(users=args.users) as (server, _):
        for round_number in range(args.rounds):
            count, seconds = asyncio.run(timed(hand_loop(server, 100, 0.0)))
            rows["hand"].append(count / seconds)
            order = list(readers) if round_number % 2 == 0 else list(reversed(readers))
            for name in order:
                _converter.converter.register_structure_hook(User, readers[name])
                count, seconds = asyncio.run(timed(c1iam_stream(server, 100, 0.0)))
                assert count == args.users, count
                rows[name].append(count / seconds)

    def ratio(numerator: str, denominator: str) -> float:
        return statistics.median(
            a / b for a, b in zip(rows[numerator], rows[denominator], strict=True)
        )

    print(f"users: {args.users}, page size: 100, rounds: {args.rounds}")
    print("| reader | items/s (median) | c1iam / hand |")
    print("|---|---|---|")
    for name in readers:
        print(f"| {name} | {statistics.median(rows[name]):,.0f} | {ratio(name, 'hand'):.3f} |")
    print(f"this / other, per round: {ratio('this', 'other'):.3f}")


if __name__ == "__main__":
    main()
