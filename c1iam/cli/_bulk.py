"""Bulk changes a person can trust: one line per ID as it completes, a dry run, a
confirmation before deleting, and a complete record even when interrupted.

Every ID gets exactly one line on stdout: `ok`, `error: ...`, `would <verb>` (dry run),
or, when the run is interrupted, `unknown: ...` for a request that was in flight (it may
have been applied) and `not done: ...` for one never sent.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import IO, Any

import anyio
import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

import c1iam

from ._failures import UsageFailure
from ._safe import printable

__all__ = ["read_ids", "run_changes"]

Check = Callable[[str, Any], Any]


def _parse(text: str) -> list[str]:
    """IDs from a CSV with an `id` column, or one per line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = [name.strip().lower() for name in next(csv.reader([lines[0]]))]
    if "id" in header:
        column = header.index("id")
        rows = csv.reader(io.StringIO("\n".join(lines[1:])))
        return [row[column].strip() for row in rows if len(row) > column and row[column].strip()]
    return lines


def read_ids(
    arguments: Iterable[str], source: IO[str] | None, check: Check, name: str
) -> list[str]:
    """IDs from the arguments, else from `--input` or stdin (a CSV with an `id` header or
    plain lines); all checked before any is used, in the form the library sends them;
    duplicates dropped."""
    given = list(arguments)
    if source is not None:
        given += _parse(source.read())
    elif not given or given == ["-"]:
        given = _parse(sys.stdin.read())
    if not given:
        raise UsageFailure(f"no {name}s given (as arguments, with --input or on stdin)")
    checked, bad = [], []
    for value in given:
        try:
            # As the library will send it (a UUID in lower case, `007` as 7): duplicates
            # are found in that form, so that no ID is changed twice.
            checked.append(str(check(name, value)))
        except ValueError:
            bad.append(value)
    if bad:
        shown = ", ".join(repr(printable(b)) for b in bad[:5])
        raise UsageFailure(f"not a valid {name}: {shown}")
    unique = list(dict.fromkeys(checked))
    if len(unique) < len(checked):
        click.echo(f"c1iam: {len(checked) - len(unique)} duplicate {name}s dropped", err=True)
    return unique


def confirm(question: str) -> bool:
    """Ask on the terminal, even when stdin holds the IDs; no terminal: no question."""
    if sys.stdin.isatty():
        return click.confirm(question, default=False, err=True)
    if not sys.stderr.isatty():
        return True
    try:
        with open("/dev/tty", encoding="utf-8") as terminal:
            click.echo(f"{question} [y/N]: ", nl=False, err=True)
            return terminal.readline().strip().lower() in ("y", "yes")
    except OSError:
        raise UsageFailure("cannot ask for confirmation: pass --yes") from None


async def run_changes(
    session: c1iam.Session,
    ids: list[str],
    change: Callable[[str], Awaitable[Any]],
    *,
    concurrency: int,
) -> int:
    """Apply `change` to every ID, a line per ID as it completes; the number that failed."""
    state = dict.fromkeys(ids, "pending")
    failed = 0
    show_progress = sys.stderr.isatty()
    progress = Progress(
        TextColumn("changing"),
        BarColumn(bar_width=None),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        disable=not show_progress,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    task = progress.add_task("changes", total=len(ids))
    # On a terminal the lines go above the bar; elsewhere, plain lines on stdout.
    to_terminal = show_progress and sys.stdout.isatty()
    waiting = iter(ids)  # shared by the workers: memory stays flat for any number of IDs

    def emit(line: str) -> None:
        if to_terminal:
            progress.console.print(line, markup=False, highlight=False)
        else:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    async def worker() -> None:
        nonlocal failed
        for item in waiting:
            state[item] = "sent"
            try:
                await change(item)
            except c1iam.C1IAMError as error:
                failed += 1
                emit(f"{item} error: {printable(str(error))}")
            else:
                emit(f"{item} ok")
            state[item] = "done"
            progress.advance(task)

    try:
        with progress:
            async with anyio.create_task_group() as group:
                for _ in range(min(concurrency, len(ids))):
                    group.start_soon(worker)
    finally:
        # Interrupted (Ctrl-C, or a failure of the run itself): finish the record.
        for item, where in state.items():
            if where == "sent":
                emit(f"{item} unknown: interrupted in flight, the change may have been applied")
            elif where == "pending":
                emit(f"{item} not done: interrupted before it was sent")
    return failed
