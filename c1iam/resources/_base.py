"""What every resource group shares: the session it talks through, and ID checks.

IDs are checked before they go into a URL path: a user ID that is not a UUID, or a
role ID that is not a positive int32, is an `InvalidArgument` and nothing is sent.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any, Final, Protocol, TypeVar

from .._errors import InvalidArgument
from .._sansio import Call
from .._streams import Pager, Stream

__all__ = ["Requester", "check_int32_id", "check_uuid", "check_word"]

T = TypeVar("T")

_INT32_MAX: Final = 2**31 - 1
_UUID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


class Requester(Protocol):
    """The part of a `Session` that resource groups use."""

    async def _request(self, call: Call) -> Any:
        """Send a call through the throttle and retries; its parsed JSON (or `None`)."""
        ...

    def _stream(self, pager: Pager, decode: Callable[[Any], T]) -> Stream[T]:
        """A stream of this session over `pager`."""
        ...


def check_uuid(name: str, value: str) -> str:
    """`value` if it is a UUID in its usual 8-4-4-4-12 form, else `InvalidArgument`."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise InvalidArgument(
            f"{name} must be a UUID like 'cc401d8f-7920-4d03-9e48-ce8ef79b4835', got {value!r}"
        )
    return value


def check_int32_id(name: str, value: int | str) -> int:
    """`value` as an int if it is a positive int32 (an int, or a string of digits)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise InvalidArgument(f"{name} must be a positive int, got {value!r}")
    if not 1 <= number <= _INT32_MAX:
        raise InvalidArgument(f"{name} must be between 1 and {_INT32_MAX}, got {value!r}")
    return number


def check_word(name: str, value: str) -> str:
    """`value` if it is a non-empty string without spaces or control characters."""
    if not isinstance(value, str) or not value or not value.isprintable() or " " in value:
        raise InvalidArgument(f"{name} must be a non-empty string without spaces, got {value!r}")
    return value
