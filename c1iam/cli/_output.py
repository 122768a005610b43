"""Writing records as a table, JSON Lines or CSV, streamed where the format allows.

Server text is made safe on the way: escaped on a terminal table, neutralised against
formulas in CSV; JSON escapes control characters itself.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any, Final

import attrs
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ._columns import COLUMNS, TABLE_COLUMNS, Kind, cell, csv_row
from ._safe import csv_cell, printable

__all__ = ["FORMATS", "StdoutConsole", "write_records"]

FORMATS: Final = ("table", "jsonl", "csv")


class StdoutConsole(Console):
    """rich's console on stdout, whose closed pipe (`c1iam ... | head`) ends the command
    quietly, exit 0, as any other write to it does: rich's own handling exits 1."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if value is None or isinstance(value, bool | int | float | str | dict | list):
        return value
    return cell(value)


async def _each(records: AsyncIterable[Any] | Iterable[Any]) -> AsyncIterator[Any]:
    if isinstance(records, AsyncIterable):
        async for record in records:
            yield record
    else:
        for record in records:
            yield record


async def write_records(
    records: AsyncIterable[Any] | Iterable[Any], output_format: str | None, *, kind: Kind
) -> None:
    """Write `records` to stdout; JSON Lines and CSV row by row, a table at the end."""
    if output_format is None:
        output_format = "table" if sys.stdout.isatty() else "jsonl"
    if output_format == "jsonl":
        async for record in _each(records):
            fields = {
                name: _json_value(value)
                for name, value in attrs.asdict(record, recurse=False).items()
                if name != "secret"
            }
            sys.stdout.write(json.dumps(fields, separators=(",", ":")) + "\n")
            sys.stdout.flush()
    elif output_format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow([csv_cell(column) for column in COLUMNS[kind]])
        # On a terminal, control characters are escaped as in a table (a file keeps the
        # values as they are: they are data there, and quoted).
        on_terminal = sys.stdout.isatty()
        async for record in _each(records):
            row = csv_row(record, kind)
            writer.writerow([printable(value) for value in row] if on_terminal else row)
            sys.stdout.flush()
    else:
        table = Table()
        for column in TABLE_COLUMNS[kind]:
            table.add_column(column)
        async for record in _each(records):
            # Text, not a markup string: "[bold]" in a name stays "[bold]".
            table.add_row(*(Text(printable(cell(getattr(record, c)))) for c in TABLE_COLUMNS[kind]))
        StdoutConsole().print(table)
