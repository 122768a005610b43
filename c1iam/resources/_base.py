"""What every resource group talks through: the part of a `Session` it uses.

Arguments are checked with `c1iam._arguments`, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from .._pagers import Pager
from .._sansio import Call
from .._streams import Stream

__all__ = ["Requester"]

T = TypeVar("T")


class Requester(Protocol):
    """The part of a `Session` that resource groups use."""

    async def _request(self, call: Call) -> Any:
        """Send a call through the throttle and retries; its parsed JSON (or `None`)."""
        ...

    def _stream(self, pager: Pager, decode: Callable[[Any], T]) -> Stream[T]:
        """A stream of this session over `pager`."""
        ...
