"""Checks of a caller's plain arguments (numbers, flags), shared by every module that takes one.

A bad argument is an `InvalidArgument` (a `ValueError`) raised before anything is sent.
"""

from __future__ import annotations

from ._errors import InvalidArgument

__all__ = ["check_flag", "check_positive_int"]


def check_positive_int(name: str, value: int) -> int:
    """`value` if it is an int >= 1; `True` is not 1 here, whatever Python says."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(f"{name} must be an int >= 1, got {value!r}")
    return value


def check_flag(name: str, value: bool) -> bool:
    """`value` if it is a bool (not 0, 1 or "false", which a server reads its own way)."""
    if not isinstance(value, bool):
        raise InvalidArgument(f"{name} must be True or False, got {value!r}")
    return value
