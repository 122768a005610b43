"""Writing users and roles as a table, JSON Lines or CSV, streamed where the format allows."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import AsyncIterable, Iterable
from typing import Any, Final, Literal

import attrs
from rich.console import Console
from rich.table import Table

from ._audit import ROLE_COLUMNS, USER_COLUMNS, cell

__all__ = ["FORMATS", "write_records"]

FORMATS: Final = ("table", "jsonl", "csv")
Kind = Literal["user", "role"]

# A table is for reading on a terminal: the columns that matter at a glance.
_TABLE_COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "user": ("id", "email", "role_id", "state", "mfa_enabled", "last_activity"),
    "role": ("id", "name", "immutable", "all_computers", "all_policies", "allow_web_service"),
}
_CSV_COLUMNS: Final[dict[str, tuple[str, ...]]] = {"user": USER_COLUMNS, "role": ROLE_COLUMNS}


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if value is None or isinstance(value, bool | int | float | str | dict | list):
        return value
    return cell(value)


async def _each(records: AsyncIterable[Any] | Iterable[Any]) -> Any:
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
            }
            sys.stdout.write(json.dumps(fields, separators=(",", ":")) + "\n")
    elif output_format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(_CSV_COLUMNS[kind])
        async for record in _each(records):
            writer.writerow([cell(getattr(record, column)) for column in _CSV_COLUMNS[kind]])
    else:
        table = Table()
        for column in _TABLE_COLUMNS[kind]:
            table.add_column(column)
        async for record in _each(records):
            table.add_row(*(cell(getattr(record, column)) for column in _TABLE_COLUMNS[kind]))
        Console().print(table)
