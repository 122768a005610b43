"""Server text made safe to show: on a terminal, in a table, in a CSV cell.

Names, emails, aliases and error messages come from the services; a hostile or broken
one could hold terminal escape sequences (ANSI colours, OSC 8 links, a cursor move that
rewrites an earlier line), a newline that forges a second line of output, or a CSV
formula (`=HYPERLINK(...)`) that a spreadsheet would run.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["csv_cell", "printable"]

# C0 and C1 control characters and DEL; tab and newline too: one value, one line.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# OWASP's list: a cell starting with one of these is read as a formula by spreadsheets.
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every control character written as an escape (`\\x1b`, `\\x0a`)."""
    return _CONTROL.sub(_escape, text)


def csv_cell(text: str) -> str:
    """A CSV cell that no spreadsheet runs as a formula: a leading `=`, `+`, `-`, `@`,
    tab or carriage return is prefixed with `'` (OWASP's "CSV injection" advice)."""
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text
