"""Where a throttle's shared state lives: this process only, or a store shared by sessions.

The throttle (`_throttle.py`) decides alone, with its `Governor` (`_control.py`); a store
only arbitrates and carries what sessions on one API key must agree on:

- the **schedule**: `reserve(rate)` books the next send time on a schedule common to every
  session (GCRA), and says how long to wait for it (`strict=True`: turns spaced strictly,
  one `strict_interval` apart with no tolerance, as the governor's own pacer spaces them);
- the **answers**: `publish(...)` hands each answer that teaches something (accepted, 429,
  503) to the other sessions, whose governors learn from it as from their own, so a cut
  or a hold made by one session is made by all, and their rate is learned from what the
  server accepted from all of them;
- the **learned state**: a session that joins late starts from the rate and hold the
  others hold (`Throttle.adopt`).

`LocalStore` is the default: the session's own governor is the whole state (its pacer's
bucket the schedule), so it has nothing to book, carry or share. `c1iam._redis.RedisStore`
shares through Redis; it is imported only when `shared_throttle` is given.

No I/O here (the scope is pure).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

import attrs

from ._control import Answer, Mode

__all__ = ["LocalStore", "RemoteAnswer", "Snapshot", "StoreState", "ThrottleStore", "scope_for"]


@attrs.frozen
class RemoteAnswer:
    """An answer another session got, in this session's monotonic time."""

    answer: Answer
    sent_at: float
    retry_after: float | None
    sent_rate: float | None


@attrs.frozen
class Snapshot:
    """What a session has learned, as others adopt it (`hold_until`: monotonic; `cuts`:
    how many times its rate was cut so far)."""

    rate: float | None
    mode: Mode
    hold_until: float | None
    cuts: int = 0


@attrs.frozen
class StoreState:
    """For `stats()`: shared now, how many sessions share, and why not when asked to."""

    shared: bool
    sessions: int
    error: str | None = None


class ThrottleStore(Protocol):
    """What a throttle shares, and with whom (see the module docstring)."""

    # Whether sessions share this store's schedule: the throttle then books every turn with
    # `reserve`, and its own pacer no longer knows every turn that reaches the server.
    # Fixed for the store's life; `state().shared` says whether it shares right now (a
    # Redis store whose server does not answer throttles alone meanwhile).
    shared: bool

    def state(self) -> StoreState:
        """Shared now or not, and with how many sessions."""
        ...

    async def start(
        self,
        *,
        learn: Callable[[RemoteAnswer], None],
        snapshot: Callable[[], Snapshot],
        adopt: Callable[[Snapshot], None],
    ) -> None:
        """Join: `adopt` is called with what others learned (at once, and then each time
        they agree on another rate), `learn` with each of their answers; `snapshot` is
        what this session learned, for the others."""
        ...

    async def reserve(self, rate: float | None, *, strict: bool = False) -> float:
        """Book a send on the common schedule at `rate` (None: unpaced; `strict`: spaced
        strictly, see `Governor.strict_spacing`): seconds to wait for it; negative: nothing
        booked, ask again in that many seconds."""
        ...

    def publish(
        self,
        answer: Answer,
        *,
        sent_at: float,
        retry_after: float | None,
        sent_rate: float | None,
    ) -> None:
        """Tell the other sessions about an answer (never waits)."""
        ...

    async def aclose(self) -> None:
        """Leave; idempotent."""
        ...


class LocalStore:
    """The default: the session's governor is the whole state; nothing is shared."""

    shared: bool = False

    def state(self) -> StoreState:
        """Never shared."""
        return StoreState(shared=False, sessions=1)

    async def start(
        self,
        *,
        learn: Callable[[RemoteAnswer], None],
        snapshot: Callable[[], Snapshot],
        adopt: Callable[[Snapshot], None],
    ) -> None:
        """Nothing to join."""

    async def reserve(self, rate: float | None, *, strict: bool = False) -> float:
        """The governor's own bucket is the schedule: no wait beyond it."""
        return 0.0

    def publish(
        self,
        answer: Answer,
        *,
        sent_at: float,
        retry_after: float | None,
        sent_rate: float | None,
    ) -> None:
        """Nobody to tell."""

    async def aclose(self) -> None:
        """Nothing to leave."""


def scope_for(api_key: str, *, legacy_auth: bool, urls: tuple[str, ...]) -> str:
    """The part of a store's keys that says whose limit it is: the API key's ID and the
    API hosts, never the secret.

    A Cloud One key is `<id>:<secret>`: its ID is public (it names the key in the
    console). A legacy Deep Security key has no public part: a hash of it stands for it,
    salted so that it cannot be looked up in a table of hashes of other uses of the key.
    """
    key_id, separator, _ = api_key.partition(":")
    if legacy_auth or not separator or not key_id:
        digest = hashlib.sha256(b"c1iam shared throttle\0" + api_key.encode()).hexdigest()
        key_id = f"h-{digest[:24]}"
    hosts = "+".join(sorted({urlsplit(url).netloc.lower() for url in urls}))
    return f"{key_id}@{hosts}"
