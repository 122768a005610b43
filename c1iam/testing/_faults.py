"""Scripted trouble for the fake: a server-side rate limit and injected faults (pure)."""

from __future__ import annotations

import collections
import math
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Final, Literal, Protocol

import attrs

__all__ = [
    "Fault",
    "Limiter",
    "Outages",
    "RateLimit",
    "ServerBucket",
    "SlidingWindow",
    "format_retry_after",
    "parse_maintenance",
    "parse_sliding_window",
]

RetryAfterStyle = Literal["seconds", "http-date", "none"]


@attrs.frozen(kw_only=True)
class RateLimit:
    """A server-side rate limit, of either shape a client meets.

    - A **token bucket** (`RateLimit(rate=40, burst=5)`): `rate` requests a second, `burst`
      at once; the bucket starts full.
    - A **sliding window** (`RateLimit.sliding_window(calls=500, seconds=60)`, Deep
      Security's own, `RateLimit.deep_security()` its default of 500 calls a minute per
      key): at most `calls` accepted in any `seconds`; a full window refuses everything
      until its oldest call is `seconds` old.

    Over the limit the answer is 429 with `Retry-After` as whole seconds rounded up (as
    servers do), as an HTTP-date, or absent (`retry_after="none"`; Deep Security documents
    none). Refused requests are not counted: Deep Security does not count calls made while
    over the limit.
    """

    rate: float
    burst: int = 1
    retry_after: RetryAfterStyle = "seconds"
    window: float | None = None

    @classmethod
    def sliding_window(
        cls, *, calls: int, seconds: float, retry_after: RetryAfterStyle = "none"
    ) -> RateLimit:
        """At most `calls` accepted in any `seconds` (refused calls not counted)."""
        if calls < 1 or not seconds > 0:
            raise ValueError("a sliding window needs calls >= 1 and seconds > 0")
        return cls(rate=calls / seconds, burst=calls, retry_after=retry_after, window=seconds)

    @classmethod
    def deep_security(cls, *, retry_after: RetryAfterStyle = "none") -> RateLimit:
        """Deep Security's default: 500 calls in any 60 s per API key."""
        return cls.sliding_window(calls=500, seconds=60.0, retry_after=retry_after)

    def limiter(self) -> Limiter:
        """Fresh state for this limit (a full bucket, an empty window)."""
        if self.window is not None:
            return SlidingWindow(self)
        return ServerBucket(self)

    def describe(self) -> str:
        """A short label: `40/s burst 5` or `500 per 60 s`."""
        if self.window is not None:
            return f"{self.burst} per {self.window:g} s"
        return f"{self.rate:g}/s burst {self.burst}"


def parse_sliding_window(text: str) -> tuple[int, float]:
    """`"500/60"` (calls per seconds) as `(500, 60.0)`; `ValueError` with a readable message."""
    calls, seconds = _two_numbers(text, "/", "CALLS/SECONDS such as 500/60")
    if calls != int(calls) or calls < 1 or not seconds > 0:
        raise ValueError(f"expected whole CALLS >= 1 and SECONDS > 0, got {text!r}")
    return int(calls), seconds


def parse_maintenance(text: str) -> tuple[float, float]:
    """`"2:4"` (start and length in seconds) as `(2.0, 4.0)`; `ValueError` if not."""
    start, seconds = _two_numbers(text, ":", "START:SECONDS such as 2:4")
    if start < 0 or not seconds > 0:
        raise ValueError(f"expected START >= 0 and SECONDS > 0, got {text!r}")
    return start, seconds


def _two_numbers(text: str, separator: str, form: str) -> tuple[float, float]:
    first, _, second = text.partition(separator)
    try:
        return float(first), float(second)
    except ValueError:
        raise ValueError(f"expected {form}, got {text!r}") from None


def format_retry_after(style: RetryAfterStyle, wait: float, wall_now: float) -> str | None:
    """A `Retry-After` value for `wait` seconds: whole seconds rounded up, or a date."""
    if style == "none":
        return None
    seconds = max(1, math.ceil(wait))
    if style == "seconds":
        return str(seconds)
    return format_datetime(datetime.fromtimestamp(wall_now + seconds, UTC), usegmt=True)


class Limiter(Protocol):
    """The state of a `RateLimit` on a clock."""

    limit: RateLimit

    def admit(self, now: float) -> float | None:
        """Count a request: `None` if admitted, else the seconds until one would be."""
        ...


@attrs.define
class ServerBucket:
    """A token bucket's state."""

    limit: RateLimit
    tokens: float = attrs.field(
        default=attrs.Factory(lambda self: float(self.limit.burst), takes_self=True)
    )
    updated: float | None = None

    def admit(self, now: float) -> float | None:
        """Take a token: `None` if admitted, else the seconds until one is available."""
        if self.updated is not None:
            self.tokens = min(
                float(self.limit.burst), self.tokens + (now - self.updated) * self.limit.rate
            )
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.limit.rate


@attrs.define
class SlidingWindow:
    """A sliding window's state: the times of the calls it accepted."""

    limit: RateLimit
    accepted: collections.deque[float] = attrs.field(factory=collections.deque)

    def admit(self, now: float) -> float | None:
        """Count a call: `None` if admitted, else the seconds until the oldest ages out."""
        window = self.limit.window
        assert window is not None
        while self.accepted and self.accepted[0] <= now - window:
            self.accepted.popleft()
        if len(self.accepted) < self.limit.burst:
            self.accepted.append(now)
            return None
        return self.accepted[0] + window - now


def _windows(windows: Iterable[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    return tuple((float(start), float(seconds)) for start, seconds in windows)


@attrs.frozen(kw_only=True)
class Outages:
    """503s the fake answers before anything else: isolated ones and maintenance windows.

    - `every`: one request in `every` is answered 503 (`None`: none), with `Retry-After:
      retry_after` seconds (`None`: without); every other one is a proxy's HTML page.
    - `maintenance`: `(start, seconds)` windows, timed from the first request the fake
      received, in which every request is answered 503, with a `Retry-After` of the
      seconds left, rounded up (or none when `retry_after` is `None`).
    """

    every: int | None = None
    retry_after: float | None = 1.0
    maintenance: tuple[tuple[float, float], ...] = attrs.field(default=(), converter=_windows)

    def unavailable(self, count: int, elapsed: float) -> tuple[str | None, bool] | None:
        """For the `count`-th request (from 1), `elapsed` seconds after the first: `None`
        to answer normally, else `(Retry-After value or None, as HTML)`."""
        for start, seconds in self.maintenance:
            if start <= elapsed < start + seconds:
                left = start + seconds - elapsed
                value = None if self.retry_after is None else str(max(1, math.ceil(left)))
                return value, False
        if self.every is not None and count % self.every == 0:
            value = None if self.retry_after is None else f"{self.retry_after:g}"
            return value, (count // self.every) % 2 == 1
        return None


FaultKind = Literal["status", "reset", "delay", "truncated", "huge", "deep"]


@attrs.frozen(kw_only=True)
class Fault:
    """One scripted fault, for the next `times` requests that match `path` and `method`.

    Build with `Fault.status(...)`, `Fault.reset()`, `Fault.delay(...)`,
    `Fault.truncated()`, `Fault.huge(...)`, `Fault.deep(...)`. `after=True` applies the
    request first (a create is made), then answers with the fault: what a client sees when
    an answer is lost on the way back.
    """

    kind: FaultKind
    status_code: int = 200
    body: Any = None
    html: bool = False
    retry_after: str | None = None
    seconds: float = 0.0
    size: int = 0
    gzip: bool = False
    chunked: bool = False
    depth: int = 0
    path: str | None = None
    method: str | None = None
    times: int = 1
    after: bool = False

    @classmethod
    def status(
        cls,
        status: int,
        *,
        body: Any = None,
        html: bool = False,
        retry_after: str | None = None,
        path: str | None = None,
        method: str | None = None,
        times: int = 1,
        after: bool = False,
    ) -> Fault:
        """Answer `status`, with a JSON body ({"message": ...} by default) or an HTML page."""
        return cls(
            kind="status",
            status_code=status,
            body=body,
            html=html,
            retry_after=retry_after,
            path=path,
            method=method,
            times=times,
            after=after,
        )

    @classmethod
    def reset(
        cls,
        *,
        path: str | None = None,
        method: str | None = None,
        times: int = 1,
        after: bool = False,
    ) -> Fault:
        """Close the connection without an answer."""
        return cls(kind="reset", path=path, method=method, times=times, after=after)

    @classmethod
    def delay(
        cls, seconds: float, *, path: str | None = None, method: str | None = None, times: int = 1
    ) -> Fault:
        """Wait `seconds` (real time) before answering normally."""
        return cls(kind="delay", seconds=seconds, path=path, method=method, times=times)

    @classmethod
    def truncated(
        cls,
        *,
        body: bytes | None = None,
        status: int = 200,
        path: str | None = None,
        method: str | None = None,
        times: int = 1,
    ) -> Fault:
        """Answer `status` with a JSON body cut short (by default, a page of users)."""
        return cls(
            kind="truncated",
            status_code=status,
            body=body,
            path=path,
            method=method,
            times=times,
        )

    @classmethod
    def huge(
        cls,
        size: int,
        *,
        status: int = 200,
        gzip: bool = False,
        chunked: bool = False,
        path: str | None = None,
        method: str | None = None,
        times: int = 1,
    ) -> Fault:
        """Answer `status` with a JSON string of `size` bytes, sent as it is generated.

        `gzip=True` sends it compressed (`Content-Encoding: gzip`, chunked): a gigabyte is
        about a megabyte on the wire, as a decompression bomb is. `chunked=True` leaves out
        `Content-Length` of a raw body too, so that only counting the bytes shows the size.
        """
        if size < 2:
            raise ValueError("a JSON string takes at least 2 bytes")
        return cls(
            kind="huge",
            status_code=status,
            size=size,
            gzip=gzip,
            chunked=chunked,
            path=path,
            method=method,
            times=times,
        )

    @classmethod
    def deep(
        cls,
        depth: int,
        *,
        status: int = 200,
        path: str | None = None,
        method: str | None = None,
        times: int = 1,
    ) -> Fault:
        """Answer `status` with JSON arrays nested `depth` deep (`[[[...]]]`)."""
        return cls(
            kind="deep", status_code=status, depth=depth, path=path, method=method, times=times
        )

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        return (self.method is None or self.method.upper() == method.upper()) and (
            self.path is None or re.search(self.path, path) is not None
        )


@attrs.define
class FaultScript:
    """Injected faults in order, each used up after `times` matches."""

    pending: list[list[Any]] = attrs.field(factory=list)  # [fault, remaining]

    def add(self, fault: Fault) -> None:
        """Append a fault."""
        if fault.times < 1:
            raise ValueError("a fault applies to at least one request")
        self.pending.append([fault, fault.times])

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request (using one of its times), if any."""
        for entry in self.pending:
            fault, remaining = entry
            if fault.matches(method, path):
                if remaining == 1:
                    self.pending.remove(entry)
                else:
                    entry[1] = remaining - 1
                return fault  # type: ignore[no-any-return]
        return None


Clock = Callable[[], float]

_PIECE: Final = 1024 * 1024
_GZIP_HEADER: Final = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # deflate, no name


def huge_body(size: int, *, gzip: bool) -> Iterator[bytes]:
    """The pieces of a JSON string of `size` bytes (`"xxx...x"`), raw or as one gzip member.

    Compressed, each megabyte of `x` is compressed once and its deflate blocks repeated:
    a full flush makes blocks independent of what came before, so a gigabyte costs a
    thousand copies of one kilobyte, not a gigabyte of compression.
    """
    middle, rest = divmod(size - 2, _PIECE)
    pieces = [b'"', *([b"x" * _PIECE] * middle), b"x" * rest + b'"']
    if not gzip:
        yield from pieces
        return
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate
    crc = 0
    blocks: dict[int, bytes] = {}
    yield _GZIP_HEADER
    for piece in pieces[:-1]:
        crc = zlib.crc32(piece, crc)
        key = len(piece) if piece != b'"' else -1
        if key not in blocks:
            blocks[key] = compressor.compress(piece) + compressor.flush(zlib.Z_FULL_FLUSH)
        yield blocks[key]
    crc = zlib.crc32(pieces[-1], crc)
    yield compressor.compress(pieces[-1]) + compressor.flush()
    yield struct.pack("<II", crc, size & 0xFFFFFFFF)


def deep_body(depth: int) -> bytes:
    """JSON arrays nested `depth` deep."""
    return b"[" * depth + b"]" * depth
