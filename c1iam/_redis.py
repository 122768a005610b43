"""A throttle store shared through Redis (redis-py's asyncio client; `c1iam[redis]`).

Imported only when a session is given `shared_throttle`. Keys, under
`<prefix>:<key ID>@<hosts>:` (see `_store.scope_for`):

- `schedule`: GCRA's theoretical arrival time, in microseconds of Redis' clock, and the
  interval it was booked at. One Lua
  script per request books the next send time at the shared rate and returns the wait,
  atomically: the shared rate holds under contention without a lock, in one round trip.
- `answers`: a stream of the answers that teach something (accepted, 429, 503), read by
  every session's governor as if they were its own.
- `state`: the shared rate, as the sessions agree on it (`_RATE`): a cut lowers it and
  starts a new epoch; growth raises it, from sessions that have seen the last cut only.
  Each session's governor follows it. Also the last hold, for sessions that join later.
- `sessions`: a sorted set of heartbeats: who shares now.

Redis is a helper, never a point of failure: a command that fails or takes longer than
`timeout` turns the session to its local throttle (one WARNING), which goes on alone
and tries Redis again every `RECONNECT_INTERVAL`. A request never waits on Redis beyond
`timeout`, and never is sent twice or dropped because of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
import redis.exceptions

from ._control import (
    BUCKET_CAPACITY,
    STRICT_SPACING_MARGIN,
    STRICT_SPACING_MARGIN_SHARE,
    Answer,
    Mode,
)
from ._store import RemoteAnswer, Snapshot, StoreState
from ._throttle import Clock

__all__ = ["RedisStore", "redacted"]

logger = logging.getLogger("c1iam")

# How often the answers of other sessions are read and this one's are written (seconds).
SYNC_INTERVAL: Final = 0.05
# A session that has not been heard of for this long no longer shares (seconds).
HEARTBEAT_TTL: Final = 3.0
# Redis is tried again this often while it is unreachable (seconds).
RECONNECT_INTERVAL: Final = 1.0
# A learned state older than this is not adopted by a joiner (seconds).
STATE_TTL: Final = 60.0
# Slots are booked at most this many sends ahead (see `_GCRA`).
BOOKING_HORIZON: Final = 2
# Answers kept in the stream (approximately): far more than a sync interval brings.
STREAM_LENGTH: Final = 5000

# KEYS[1]: the schedule (the next free slot and the µs between slots it was booked at),
# KEYS[2]: the state (its `rate` paces, when there is one).
# ARGV[1]: µs between sends (0: unpaced), ARGV[2]: intervals of tolerance (a send may go
# that much ahead of its slot), ARGV[3]: intervals ahead a slot may be booked, ARGV[4] and
# ARGV[5]: the margin of turns spaced strictly (µs, and at most this share of an interval:
# `_control.strict_interval`; 0 when not strict).
# Returns {µs to wait for the slot booked, Redis' time in µs}; or, when the next slot is
# further ahead than that, nothing booked and {-(µs until it may be booked), time}: a slot
# booked far ahead would keep the rate it was booked at after a cut.
_GCRA: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local shared = tonumber(redis.call('HGET', KEYS[2], 'rate') or '0')
if shared > 0 then
  interval = 1000000 / shared
end
if interval <= 0 then
  return {0, now}
end
interval = interval + math.min(tonumber(ARGV[4]), tonumber(ARGV[5]) * interval)
local booked = redis.call('HMGET', KEYS[1], 'tat', 'interval')
local tat = tonumber(booked[1] or '0')
if tat < now then
  tat = now
elseif tonumber(booked[2] or '0') > 0 then
  -- Booked at another rate: what is booked ahead moves to the new rate (a slow start
  -- that grew, or a cut, applies to the schedule at once).
  tat = now + (tat - now) * interval / tonumber(booked[2])
end
local send = tat - interval * tonumber(ARGV[2])
if send < now then
  send = now
end
local horizon = interval * tonumber(ARGV[3])
if send - now > horizon then
  return {horizon - (send - now), now}
end
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat + interval),
  'interval', string.format('%.0f', interval))
redis.call('PEXPIRE', KEYS[1], math.ceil((tat + interval - now) / 1000) + 1000)
return {send - now, now}
"""

# KEYS[1]: the state. ARGV[1]: this session's rate, ARGV[2]: "1" if it cut since it last
# said, "2" if it is open again (a full window reopened: no rate holds), ARGV[3]: the
# epoch it knows, ARGV[4]: its mode, ARGV[5]: seconds to keep the state.
# Returns {the shared rate (0: none), the epoch, its mode}.
_RATE: Final = """
local rate = tonumber(ARGV[1])
local shared = tonumber(redis.call('HGET', KEYS[1], 'rate') or '0')
local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '0')
if ARGV[2] == '1' then
  epoch = epoch + 1
  redis.call('HSET', KEYS[1], 'epoch', epoch)
  if shared == 0 or rate < shared then
    shared = rate
    redis.call('HSET', KEYS[1], 'rate', ARGV[1], 'mode', ARGV[4])
  end
elseif ARGV[2] == '2' then
  epoch = epoch + 1
  shared = 0
  redis.call('HSET', KEYS[1], 'epoch', epoch)
  redis.call('HDEL', KEYS[1], 'rate', 'mode')
elseif tonumber(ARGV[3]) == epoch and rate > shared then
  shared = rate
  redis.call('HSET', KEYS[1], 'rate', ARGV[1], 'mode', ARGV[4])
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {tostring(shared), epoch, redis.call('HGET', KEYS[1], 'mode') or 'steady'}
"""

# What Redis may do wrong: none of it ever reaches a request.
_FAILURES: Final = (redis.exceptions.RedisError, OSError, asyncio.TimeoutError)

_ANSWER_CODES: Final = {Answer.ACCEPTED: "a", Answer.REFUSED: "r", Answer.UNAVAILABLE: "u"}
_ANSWERS_BY_CODE: Final = {code: answer for answer, code in _ANSWER_CODES.items()}


def redacted(url: str) -> str:
    """The URL without its password, for messages: nor its query, where redis-py also
    takes one (`?password=...`)."""
    parts = urlsplit(url)
    if parts.query:
        parts = parts._replace(query="***")
    if parts.password is not None:
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = f"{parts.username}:***@" if parts.username else "***@"
        parts = parts._replace(netloc=user + netloc)
    return urlunsplit(parts)


class RedisStore:
    """A `ThrottleStore` in Redis (see the module docstring)."""

    shared: bool = True

    def __init__(
        self,
        url: str,
        *,
        scope: str,
        prefix: str,
        clock: Clock,
        timeout: float = 0.25,
    ) -> None:
        self._url = redacted(url)
        self._client: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._timeout = timeout
        self._clock = clock
        base = f"{prefix}:{scope}"
        self._schedule_key = f"{base}:schedule"
        self._answers_key = f"{base}:answers"
        self._state_key = f"{base}:state"
        self._sessions_key = f"{base}:sessions"
        self._gcra = self._client.register_script(_GCRA)
        self._rate = self._client.register_script(_RATE)
        self._epoch = 0
        self._cuts = 0  # the governor's cuts when last told
        self._limited = False  # the governor had a rate when last told
        self._id = secrets.token_hex(8)
        self._connected = False
        self._error: str | None = None
        self._sessions = 1
        # Redis' clock minus this session's monotonic clock (seconds), from each reply.
        self._offset = 0.0
        self._last_id = "0-0"
        self._outbox: list[dict[str, str]] = []
        self._learn: Callable[[RemoteAnswer], None] | None = None
        self._snapshot: Callable[[], Snapshot] | None = None
        self._adopt: Callable[[Snapshot], None] | None = None
        self._task: asyncio.Task[None] | None = None
        # Set by a refusal or an outage: the others should hear of it (and the shared rate
        # be cut) now, not at the next sync.
        self._urgent = asyncio.Event()
        self._closed = False

    # -- ThrottleStore ----------------------------------------------------------------------

    def state(self) -> StoreState:
        """Shared while Redis answers; the reason when it does not."""
        if self._connected:
            return StoreState(shared=True, sessions=self._sessions)
        return StoreState(shared=False, sessions=1, error=self._error)

    async def start(
        self,
        *,
        learn: Callable[[RemoteAnswer], None],
        snapshot: Callable[[], Snapshot],
        adopt: Callable[[Snapshot], None],
    ) -> None:
        """Join: adopt the learned state, then sync in the background."""
        self._learn, self._snapshot, self._adopt = learn, snapshot, adopt
        try:
            learned = await self._join()
        except _FAILURES as error:
            self._lost(error)
        else:
            if learned is not None:
                adopt(learned)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def reserve(self, rate: float | None, *, strict: bool = False) -> float:
        """Book a send on the shared schedule (see `_GCRA`): seconds to wait for it, or,
        negative, seconds until one may be booked. 0.0 while Redis is away. `strict`: one
        `strict_interval` after the last booked, with no tolerance (a server whose bucket
        holds one token refuses a turn that catches up, whoever's it is)."""
        if not self._connected:
            return 0.0
        interval = 0 if rate is None else round(1e6 / rate)
        tolerance = 0.0 if strict else BUCKET_CAPACITY - 1.0
        margin = round(STRICT_SPACING_MARGIN * 1e6) if strict else 0
        sent = self._clock.monotonic()
        try:
            wait_us, now_us = await asyncio.wait_for(
                self._gcra(
                    keys=[self._schedule_key, self._state_key],
                    args=[
                        interval,
                        tolerance,
                        BOOKING_HORIZON,
                        margin,
                        STRICT_SPACING_MARGIN_SHARE,
                    ],
                ),
                self._timeout,
            )
        except _FAILURES as error:
            self._lost(error)
            return 0.0
        self._track_offset(int(now_us), sent)
        return int(wait_us) / 1e6

    def publish(
        self,
        answer: Answer,
        *,
        sent_at: float,
        retry_after: float | None,
        sent_rate: float | None,
    ) -> None:
        """Queue the answer for the next sync (dropped while Redis is away: the others
        go on with their own answers, as a session without Redis does)."""
        if not self._connected or answer not in _ANSWER_CODES:
            return
        if answer is not Answer.ACCEPTED:
            self._urgent.set()
        self._outbox.append(
            {
                "s": self._id,
                "a": _ANSWER_CODES[answer],
                "t": repr(sent_at + self._offset),
                "r": "" if retry_after is None else repr(retry_after),
                "q": "" if sent_rate is None else repr(sent_rate),
            }
        )

    async def aclose(self) -> None:
        """Stop syncing, leave the set of sessions, close the connection."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._connected:
            with contextlib.suppress(*_FAILURES):
                await asyncio.wait_for(
                    self._client.zrem(self._sessions_key, self._id), self._timeout
                )
        await self._client.aclose()

    # -- syncing -----------------------------------------------------------------------------

    async def _join(self) -> Snapshot | None:
        """Connect; what others learned, if recent."""
        sent = self._clock.monotonic()
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.time()
            pipe.hgetall(self._state_key)
            (seconds, micros), state = await asyncio.wait_for(pipe.execute(), self._timeout)
        now = seconds + micros / 1e6
        self._track_offset(round(now * 1e6), sent)
        # Answers from now on (stream IDs are Redis' milliseconds).
        self._last_id = f"{int(now * 1000)}-0"
        # Counted at once: sessions that start together see each other from the start.
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.zadd(self._sessions_key, {self._id: now})
            pipe.zcount(self._sessions_key, now - HEARTBEAT_TTL, "+inf")
            _, sessions = await asyncio.wait_for(pipe.execute(), self._timeout)
        self._sessions = int(sessions)
        self._rejoined()
        return self._learned(state, now)

    def _learned(self, state: dict[bytes, bytes], now: float) -> Snapshot | None:
        try:
            rate = float(state[b"rate"])
            mode = Mode(state.get(b"mode", b"steady").decode())
            hold = float(state[b"hold"]) if state.get(b"hold") else None
            self._epoch = int(state.get(b"epoch", b"0"))
        except (KeyError, ValueError):
            return None
        if hold is not None and hold <= now:
            hold = None
        return Snapshot(
            rate=rate, mode=mode, hold_until=None if hold is None else hold - self._offset
        )

    async def _run(self) -> None:
        while not self._closed:
            if self._connected:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), SYNC_INTERVAL)
                self._urgent.clear()
            else:
                await asyncio.sleep(RECONNECT_INTERVAL)
                # Connections made before the outage are dead: start afresh.
                with contextlib.suppress(*_FAILURES):
                    await self._client.connection_pool.disconnect()
            try:
                if self._connected:
                    await asyncio.wait_for(self._sync(), self._timeout)
                else:
                    await self._join()
            except _FAILURES as error:
                self._lost(error)

    async def _sync(self) -> None:
        """Write this session's answers, heartbeat, rate and hold; read the shared rate and
        the other sessions' answers."""
        assert self._snapshot is not None
        assert self._learn is not None
        assert self._adopt is not None
        outbox, self._outbox = self._outbox, []
        learned = self._snapshot()
        cut, self._cuts = learned.cuts > self._cuts, learned.cuts
        now = self._clock.monotonic() + self._offset
        async with self._client.pipeline(transaction=False) as pipe:
            for fields in outbox:
                pipe.xadd(self._answers_key, fields, maxlen=STREAM_LENGTH, approximate=True)  # type: ignore[arg-type]
            pipe.zadd(self._sessions_key, {self._id: now})
            pipe.zremrangebyscore(self._sessions_key, "-inf", now - HEARTBEAT_TTL)
            pipe.zcard(self._sessions_key)
            pipe.xread({self._answers_key: self._last_id}, count=1000)
            reopened = learned.rate is None and self._limited
            self._limited = learned.rate is not None
            if learned.rate is not None or reopened:
                # (The pipeline loads the script first when Redis does not have it.)
                await self._rate(
                    keys=[self._state_key],
                    args=[
                        repr(learned.rate or 0.0),
                        "2" if reopened else "1" if cut else "0",
                        self._epoch,
                        learned.mode.value,
                        int(STATE_TTL),
                    ],
                    client=pipe,
                )
            else:
                pipe.hmget(self._state_key, ["rate", "epoch", "mode"])
            if learned.hold_until is not None:
                pipe.hset(self._state_key, "hold", repr(learned.hold_until + self._offset))
            for key in (self._answers_key, self._sessions_key):
                pipe.expire(key, int(STATE_TTL))
            replies = await pipe.execute()
        self._sessions = int(replies[len(outbox) + 2])
        for _, entries in replies[len(outbox) + 3] or ():
            for entry_id, fields in entries:
                self._last_id = entry_id.decode()
                remote = self._remote(fields)
                if remote is not None:
                    self._learn(remote)
        shared_rate, epoch, mode = replies[len(outbox) + 4]
        if shared_rate:
            self._epoch = int(epoch or 0)
            rate = float(shared_rate)
            if rate > 0.0 and rate != learned.rate:
                agreed = Mode.LEARNING if mode == Mode.LEARNING.value.encode() else Mode.STEADY
                self._adopt(Snapshot(rate=rate, mode=agreed, hold_until=None))

    def _remote(self, fields: dict[bytes, bytes]) -> RemoteAnswer | None:
        """Another session's answer, in this session's time (None: this one's own)."""
        if fields.get(b"s", b"").decode() == self._id:
            return None
        try:
            answer = _ANSWERS_BY_CODE[fields[b"a"].decode()]
            sent_at = float(fields[b"t"]) - self._offset
            retry_after = float(fields[b"r"]) if fields.get(b"r") else None
            sent_rate = float(fields[b"q"]) if fields.get(b"q") else None
        except (KeyError, ValueError):
            return None  # written by another version: ignored, never fatal
        return RemoteAnswer(answer, sent_at, retry_after, sent_rate)

    def _track_offset(self, redis_us: int, sent: float) -> None:
        """Redis' clock against ours, taken at the middle of the round trip."""
        middle = (sent + self._clock.monotonic()) / 2
        self._offset = redis_us / 1e6 - middle

    def _rejoined(self) -> None:
        if self._error is not None:
            logger.info("shared throttle: Redis at %s answers again; sharing", self._url)
        self._connected = True
        self._error = None

    def _lost(self, error: BaseException) -> None:
        """Throttle alone: one WARNING per outage."""
        if not self._connected and self._error is not None:
            return
        self._connected = False
        self._outbox.clear()
        reason = type(error).__name__ if not str(error) else f"{type(error).__name__}: {error}"
        self._error = f"Redis at {self._url} unreachable ({reason}); throttling alone"
        logger.warning("shared throttle: %s until it answers again", self._error)
