"""What a session may send, and when: the throttle's decisions, pure (no clock, no I/O).

The throttle (`_throttle.py`) asks `Governor.admit(now)` before each request leaves and
tells it every answer; the governor keeps the state those answers build up:

- the **rate** (`RateControl`): open until the first 429 (the first round trip starts
  with `INITIAL_WINDOW` requests in flight, +1 per accepted answer and doubling at most
  every `OPEN_DOUBLING` seconds, so a small burst or window refuses a few requests, not
  `max_concurrency`). Then *slow start*: from what the server accepted, the rate doubles
  every `STARTUP_DOUBLING` seconds, at most `STARTUP_LEAD` times ahead of the fastest rate a
  request was accepted at, until a 429 shows where the limit lies. That rate floors the cut
  which ends slow start, unless what the server accepted before the first 429 showed it
  saving tokens, which it lends slow start's requests far above its rate
  (`SAVED_TOKENS_TRUSTED`). From then on it follows CUBIC (RFC 9438), as botocore's adaptive
  mode does, with its scale relative to the rate so that the curve has one shape at any
  rate, and its clock slowed below `CUBIC_CLOCK_RATE` so that a climb spans as many requests
  at a slow rate.
  How deep a cut goes depends on the **delivery rate**: between two refusals the server's
  bucket was empty at both ends, so what it accepted in between, over that time, is at
  most what it allows (TCP BBR measures delivery rate the same way). When it confirms the
  refused rate, the limit is close and the cut is shallow (`MEASURED_BETA`); otherwise
  `CUBIC_BETA`. One cut per congestion episode: a 429 for a request sent before the last
  cut is the same congestion, already answered. A refused request took no token of the
  server's: when its answer comes back before the next turn left, the next leaves at
  once (**the refund**), spaced from the turn before the refused one, and how deep to
  cut waits for its answer. Accepted, the refusal was a **near miss** (the server's
  token came a moment after the refused request, which arrival jitter brought early, or
  the rate is a little over): a cut of `NEAR_MISS_BETA`, twice as deep for each near miss
  soon after the last. In the last `END_GAME` seconds of work the rate neither probes
  upward nor, once a job drains, runs at full speed (`END_GAME_SPACING`), where a refusal
  could only cost time.
- **holds**: after a `Retry-After` of `pause_threshold` or more on a 429, nothing leaves
  until then. A hold without an end known in advance, **probing**, starts when the
  service refuses everything: 503s that persist (`OUTAGE_IN_A_ROW` in a row, or most
  answers of the last second), or 429s with nothing accepted for `BLOCKED_AFTER`
  seconds and `BLOCKED_INTERVALS` intervals of the rate accepted before (a sliding-window
  limiter whose window is full). While probing, one request at a time goes out, one per
  `Retry-After` or, without one, spaced out and timed for windows of whole seconds
  (see `PROBE_FIRST`); the first answer that is not refused ends the hold, and the
  session resumes at the rate that held before it (open, after a window). A window's
  length and the calls it takes are learned from its first block (or from the
  `Retry-After` that held it): from then on the session keeps the window's books, at
  most that many calls in any such span (a call answered later than the books' margin
  after it left counts until the window's length after its answer), instead of
  flooding it and probing it. The first block gives the length only between two bounds
  (the last probe refused, the first accepted), each counted the safe way from the
  burst's first call, which reached the server between leaving and its answer (a tenth
  of a second apart while an `asyncio.gather` of thousands starts); each later window
  lets one call out early to halve that gap, or at the one whole second within it,
  until it is within the books' margin. One call more than the window took, at most
  once a minute, notices a window that grew. A window refused with half its room or
  more unused was none (a slow token bucket's first block looks like one): it is
  forgotten, and a rate learned instead. One isolated 503 holds nobody: its own call
  waits, the rest go on.
- the **pacer's bucket** (`TokenBucket`), which spends the rate one request at a time,
  catching up a little on a turn the pacer woke late for. A server whose bucket holds
  one token refuses such a turn however low the rate: a refused turn that left less
  than one interval after the one before says so, as does a refusal of a configured
  rate (the server's own), unless the session's last two accepted requests were answered
  within an interval before that refusal (a busy event loop let a bunch go at once, which
  a bucket with a burst refuses however the pacer spaced its turns). From then on turns
  are spaced strictly (`strict_spacing`: one interval and `STRICT_SPACING_MARGIN` apart,
  counted from when each really left, timed precisely by the throttle), and a refusal
  says the limit lies just below the rate refused (see `STRICT_PLATEAU_SHARE`): such a
  bucket still refuses a request now and then near its rate, as arrival times jitter,
  and what was delivered since the last cut, which held delivery back, must not drag
  CUBIC's plateau down with each of those.

Every method takes `now`, a monotonic time in seconds: the tests drive it with numbers,
and `benchmarks/sim_throttle.py` runs it on virtual time against every server shape.
"""

from __future__ import annotations

import bisect
import collections
import enum
import math
from typing import Final

import attrs

__all__ = [
    "BLOCKED_AFTER",
    "BLOCKED_INTERVALS",
    "CUBIC_BETA",
    "CUBIC_CLOCK_RATE",
    "CUBIC_SLOWEST_CLOCK",
    "MIN_RATE",
    "OPEN_DOUBLING",
    "Answer",
    "Governor",
    "Mode",
    "RateControl",
    "TokenBucket",
]

# CUBIC's beta (RFC 9438 and botocore's adaptive mode use 0.7). Its C, 0.4 in RFC 9438, is in
# packets per s**3 for windows of hundreds of packets: here it is relative to the rate, so
# that the curve has the same shape at 5/s as at 500/s (0.4 % of W_max per s**3: back to
# W_max 2.3 s after a shallow cut, 5 % beyond it 2.3 s later).
CUBIC_SCALE: Final = 0.004
# CUBIC's clock runs in seconds at `CUBIC_CLOCK_RATE` requests a second and above; below,
# slower in proportion to the plateau (at most `1 / CUBIC_SLOWEST_CLOCK` times slower), so
# that a climb spans as many requests at 8/s as at 40/s and ends in a refusal as rarely. In
# seconds, a climb of 2.3 s spanned 18 requests at 8/s (4 % refused) and 5 at 2/s (one
# refused in six). The bound keeps a plateau learned too low from holding for minutes.
CUBIC_CLOCK_RATE: Final = 40.0
CUBIC_SLOWEST_CLOCK: Final = 0.25
CUBIC_BETA: Final = 0.7
# The learned rate never drops below this (requests per second), so a session always moves.
MIN_RATE: Final = 0.5
# Slow start doubles the rate this often while the rate is what holds the session back.
STARTUP_DOUBLING: Final = 0.1
# Slow start's curve runs at most this far ahead of the highest rate a request was
# accepted at: growth waits for answers, so a slow server is not flooded (at 2/s, though,
# waiting for every answer before doubling would take seconds).
STARTUP_LEAD: Final = 4.0
# Slow start begins no lower than this (requests per second): a burst of one says nothing
# of the rate behind it, and doubling from 0.5/s would take seconds.
STARTUP_MIN_RATE: Final = 2.0
# A delivery rate is measured only over a span this long (seconds): over a shorter one,
# one request more or less changes it too much.
MIN_DELIVERY_SPAN: Final = 0.25
# Seconds of waiting work under which the rate stops probing upward (see `on_accepted`),
# and turns leave this much slower (see `Governor._slows_in_end_game`).
END_GAME: Final = 1.0
END_GAME_SPACING: Final = 0.95
# Turns spaced strictly are this much further apart than the rate says (seconds, and at
# most this share of an interval): a bucket of one refuses a request that arrives a
# moment before its token, and arrival times jitter by a few tenths of a millisecond
# even over loopback (requests sent exactly 25 ms apart reach such a server 24.8 ms apart).
STRICT_SPACING_MARGIN: Final = 0.0005
STRICT_SPACING_MARGIN_SHARE: Final = 0.03
# In CUBIC's phase the rate never grows beyond this multiple of the accepted rate.
MAX_GROWTH_OVER_PASSING: Final = 2.0
# Refusals kept to measure delivery rates from (seconds).
DELIVERY_HISTORY: Final = 10.0
# When the server was measured delivering at least `CONFIRMED_SHARE` of the refused rate,
# the limit is known to be close: CUBIC's plateau goes halfway between the two rates and
# the cut to `MEASURED_BETA` of it. Otherwise the plateau is the refused rate, the cut
# `CUBIC_BETA` of it.
MEASURED_BETA: Final = 0.95
CONFIRMED_SHARE: Final = 0.8
# A refusal is a near miss when the request sent right after it, at once, was accepted
# (see `Governor._refund_turn`): the server's token came a moment after the refused
# request, so the rate is the server's own or a little over, and arrival times jitter.
# CUBIC's plateau is then the refused rate, the cut this share of it. A near miss less
# than `NEAR_MISS_SPACING` seconds after the last one's cut cuts twice as deep as that
# one did (0.98, 0.96, 0.92, ...; at most `CUBIC_BETA`): a rate well over the limit
# refuses again soon after each shallow cut.
NEAR_MISS_BETA: Final = 0.98
NEAR_MISS_SPACING: Final = 0.5
# A refused turn is given back only when it left within this many intervals of the turn
# before it (one after an idle spell or a hold was not early: see `Governor._refund_turn`).
REFUND_SPACING: Final = 1.5
# With turns spaced strictly (`Governor.strict_spacing`), a refused rate is the limit's
# own neighbourhood: CUBIC's plateau goes no lower than this share of it.
STRICT_PLATEAU_SHARE: Final = 0.98
# Slow start's fastest accepted rate floors the cut that ends it only when at most this
# many requests were accepted in the `MEASURE_WINDOW` before the first 429 (slow start
# then begins at `STARTUP_MIN_RATE`). More, and the server held more tokens or refilled
# them faster than slow start begins: it saves them again while slow start is slow, and
# lends them to requests far above its rate. A bucket of 5 at 40/s let slow start's
# requests through at 110/s, and the floor then held the rate near 100/s, a cut more per
# round trip. A bucket of one or two, flooded at once, lends at most one request so.
# (Requests accepted before a flood count too: the floor is then given up, and the cut
# that ends slow start is the deeper one of a rate nothing vouches for.)
SAVED_TOKENS_TRUSTED: Final = 2
# The window over which accepted requests are counted for the first estimate (seconds).
MEASURE_WINDOW: Final = 1.0
# Tokens the pacer may save: a little over one, so that the pacer waking a moment late
# does not lose that moment (at 50/s, 1 ms late on every request added 5 % to a bulk run),
# yet an idle session sends no burst worth speaking of. A server with a burst of one
# refuses a turn that catches up so: once one is refused, turns are spaced strictly (see
# `Governor.strict_spacing`).
BUCKET_CAPACITY: Final = 1.5
# The most calls a learned window's books hold (Deep Security's default is 500 a key).
WINDOW_BOOKS: Final = 10_000
# The books keep a call this much longer than the learned window (see `_books_span`);
# the window's length is refined until known this closely.
WINDOW_MARGIN_SHARE: Final = 0.01
WINDOW_MARGIN: Final = 0.02
# At most one call a window more than the window took, and no more often than this
# (seconds): such a call is refused unless the window grew, and that is rare, unless
# other clients share the window (then once a window; and again at once while it grows).
WINDOW_GROWTH_EVERY: Final = 60.0
# Requests in flight at first, before anything was accepted (see `in_flight_limit`), and
# how often that window may double at most (seconds), however fast the answers come.
INITIAL_WINDOW: Final = 2
OPEN_DOUBLING: Final = 0.05
# 503s in a row that make an outage (fewer are isolated failures: their own calls wait).
OUTAGE_IN_A_ROW: Final = 3
# Refused with nothing accepted (and at least `BLOCKED_REFUSALS` 429s) for
# `BLOCKED_AFTER` seconds, and for `BLOCKED_INTERVALS` intervals of the rate accepted before:
# the limiter is blocked (a full sliding window), not merely a little exceeded. (A token
# bucket of 5/s, sent to a little too fast, refuses everything for up to 0.2 s at a time.)
BLOCKED_AFTER: Final = 0.1
BLOCKED_INTERVALS: Final = 4.0
BLOCKED_REFUSALS: Final = 4
# Probing without a Retry-After: the first probe after `PROBE_FIRST`. A full window is then
# probed every `PROBE_SHARE` of the time blocked so far (within `PROBE_FIRST`..`PROBE_MAX`),
# sooner where a whole number of `WINDOW_GRAINS` since its burst comes first,
# and once its length is known, first at its predicted reopening. An outage is probed
# twice as late each time, up to `OUTAGE_PROBE_MAX`.
PROBE_FIRST: Final = 0.25
PROBE_SHARE: Final = 0.1
PROBE_MAX: Final = 2.0
# Window lengths a probe is timed for (seconds, see `window_probe_wait`): multiples of the
# largest grain not above the probes' spacing, so that a window of 60 s, probed every 2 s,
# is found at 60 s. (A probe leaves this much after the mark, for the clocks' rounding.)
WINDOW_GRAINS: Final = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
WINDOW_MARK_MARGIN: Final = 0.001
OUTAGE_PROBE_MAX: Final = 1.0
_TOKEN_EPSILON: Final = 1e-9


def _in_end_game(rate: float, backlog: int) -> bool:
    """Whether `backlog` calls waiting are less than `END_GAME` seconds of work at `rate`."""
    return backlog < rate * END_GAME


def window_probe_wait(now: float, wait: float, *, since: float) -> float:
    """When to probe a full window next, at the latest after `wait`: right after the next
    whole number of `WINDOW_GRAINS` seconds since `since` (the burst that filled it was
    first answered), if one comes within `wait`. Limiters count windows in round seconds
    (Deep Security: the calls of the last 60 s), so a probe there finds such a window
    the moment it reopens, instead of up to `wait` late. No probe comes later than
    `wait`: a window of any other length is found as before, within a probe interval."""
    grain = max((grain for grain in WINDOW_GRAINS if grain <= wait), default=WINDOW_GRAINS[0])
    marks = math.floor((now - since - WINDOW_MARK_MARGIN) / grain) + 1
    mark = since + marks * grain + WINDOW_MARK_MARGIN
    if mark <= now:  # (now on the mark, to the last bit)
        mark += grain
    return min(wait, mark - now)


def window_length_to_test(floor: float, longest: float) -> float:
    """The length a window's test call tests, between what its length is known to exceed
    and the most it can be: the one whole number of seconds between the two, if there is
    exactly one (limiters count windows in round seconds), else halfway."""
    whole = math.ceil(longest) - 1
    if floor < whole and whole - 1 <= floor and whole + WINDOW_MARK_MARGIN < longest:
        return whole + WINDOW_MARK_MARGIN
    return (floor + longest) / 2.0


def strict_interval(rate: float) -> float:
    """Seconds between turns spaced strictly at `rate`: one interval and the margin."""
    return 1.0 / rate + min(STRICT_SPACING_MARGIN, STRICT_SPACING_MARGIN_SHARE / rate)


class Answer(enum.Enum):
    """What an answer tells the session as a whole (the per-call decision is `_retry`)."""

    ACCEPTED = "accepted"  # processed (any status but 429/503): the rate may grow
    REFUSED = "refused"  # 429: over the rate
    UNAVAILABLE = "unavailable"  # 503: the service is not answering
    NOTHING = "nothing"  # no answer, or one that says nothing about the session


class Mode(enum.Enum):
    """What the governor is doing, for `stats()` and logs."""

    OPEN = "open"  # no limit known: nothing has been refused
    LEARNING = "learning"  # slow start after the first 429
    STEADY = "steady"  # a configured or learned rate, following the server
    HELD = "held"  # waiting out a Retry-After
    PROBING = "probing"  # one request at a time until the service answers again


@attrs.define
class TokenBucket:
    """A token bucket: `rate` tokens a second, at most `capacity` saved up.

    `rate=None` is an open bucket: every token is free.
    """

    rate: float | None
    capacity: float = 1.0
    tokens: float = 1.0
    updated: float | None = None

    def delay(self, now: float) -> float:
        """Seconds until a token is available (0.0 when one is)."""
        self._refill(now)
        # With a tolerance: after sleeping exactly the delay asked, floating point can
        # leave 0.9999999999999998 tokens, and the caller would spin on a 1e-16 s wait.
        if self.rate is None or self.tokens >= 1.0 - _TOKEN_EPSILON:
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> bool:
        """Take a token if one is available."""
        if self.delay(now) > 0.0:
            return False
        if self.rate is not None:
            self.tokens -= 1.0
        return True

    def set_rate(self, rate: float | None, now: float) -> None:
        """Change the rate; tokens saved so far are kept (up to the capacity)."""
        self._refill(now)
        self.rate = rate

    def drain(self, now: float) -> None:
        """Forget saved tokens (after a cut or a hold, nothing should leave in a burst)."""
        self._refill(now)
        self.tokens = min(self.tokens, 0.0)

    def tokens_at(self, now: float) -> float:
        """The tokens saved by `now`."""
        self._refill(now)
        return self.tokens

    def next_token_at(self, when: float, now: float) -> None:
        """Set the bucket so that its next token comes at `when` (at once if that has
        passed), whatever it saved or spent before."""
        assert self.rate is not None
        self.updated = now
        self.tokens = min(self.capacity, 1.0 - max(0.0, when - now) * self.rate)

    def _refill(self, now: float) -> None:
        if self.updated is not None and self.rate is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now


@attrs.define
class RateControl:
    """The rate a session sends at: open, then slow start, then CUBIC (see the module doc).

    `ceiling` is the configured rate (`None`: learn it). `rate` is `None` while open.
    """

    ceiling: float | None
    rate: float | None = attrs.field(
        default=attrs.Factory(lambda self: self.ceiling, takes_self=True)
    )
    mode: Mode = attrs.field(
        default=attrs.Factory(
            lambda self: Mode.OPEN if self.ceiling is None else Mode.STEADY, takes_self=True
        )
    )
    last_max: float = 0.0
    last_cut: float | None = None
    _k: float = 0.0
    # Slow start: the curve `start_rate * 2 ** ((now - started) / STARTUP_DOUBLING)`, capped
    # at `STARTUP_LEAD` times the highest rate a request was accepted at.
    _started: float = 0.0
    _start_rate: float = 0.0
    _confirmed: float = 0.0
    # The highest rate slow start saw accepted, when it ended with a cut (0.0 after the
    # next cut).
    _left_slow_start_at: float = 0.0
    # Requests accepted in the `MEASURE_WINDOW` before the first 429 (see
    # `SAVED_TOKENS_TRUSTED`).
    _flood_accepted: int = 0
    # When the last near miss was cut for, and how many came in a row, each soon after the
    # one before (see `NEAR_MISS_SPACING`).
    _near_miss_cut: float = -math.inf
    _near_misses: int = 0
    _accepted: collections.deque[float] = attrs.field(factory=collections.deque)
    # Recent refusals that cut: [send time, requests accepted since], for delivery rates.
    _refusals: collections.deque[list[float]] = attrs.field(factory=collections.deque)

    def grow(self, now: float) -> None:
        """Slow start: the rate follows its doubling curve, as far as answers allow."""
        if self.mode is Mode.LEARNING:
            curve = self._start_rate * 2.0 ** ((now - self._started) / STARTUP_DOUBLING)
            rate = min(curve, STARTUP_LEAD * self._confirmed)
            if self.ceiling is not None:
                rate = min(rate, self.ceiling)
            self.rate = max(self.rate or 0.0, rate)

    def on_accepted(
        self,
        sent_at: float,
        now: float,
        *,
        rate_bound: bool,
        backlog: int = 0,
        sent_rate: float | None = None,
        draining: bool = True,
    ) -> None:
        """A request was processed. `rate_bound`: requests are waiting for the rate;
        `backlog`: how many; `sent_rate`: the rate it was sent at; `draining`: a short
        backlog is a job ending, not one that keeps a short queue all along.

        The rate grows only while it is what holds the session back: a session that is
        idle, or bound by its concurrency, must not "learn" a rate it never tried. Nor
        does it probe upward when less than `END_GAME` seconds of work are waiting as a
        job drains: a refusal then would cost its call a `Retry-After` (a whole second,
        rounded up) at the very end of the job, and a faster rate could gain nothing.
        """
        if self.mode is Mode.LEARNING and sent_rate is not None:
            self._confirmed = max(self._confirmed, sent_rate)
        self._accepted.append(now)
        self._forget_accepted_before(now - MEASURE_WINDOW)
        for refusal in self._refusals:
            if sent_at > refusal[0]:
                refusal[1] += 1
        if self.rate is None or not rate_bound:
            return
        if self.mode is Mode.STEADY and draining and _in_end_game(self.rate, backlog):
            return
        if self.mode is Mode.LEARNING:
            self.grow(now)
        elif self.last_cut is not None:
            scale = self._cubic_scale()
            cubic = scale * (now - self.last_cut - self._k) ** 3 + self.last_max
            # Never more than twice what is passing now: after a spell without demand,
            # CUBIC's clock would otherwise jump the rate far beyond anything tried.
            passing = max(MIN_RATE, self.accepted_rate())
            self.rate = max(self.rate, min(cubic, MAX_GROWTH_OVER_PASSING * passing))
        if self.ceiling is not None:
            self.rate = min(self.rate, self.ceiling)

    def on_refused(
        self,
        sent_at: float,
        now: float,
        *,
        sent_rate: float | None = None,
        strict: bool = False,
        near_miss: bool = False,
    ) -> bool:
        """A request sent at `sent_at` (at `sent_rate`, if known) got a 429: cut the rate,
        once per episode. `strict`: turns are spaced strictly (`Governor.strict_spacing`);
        `near_miss`: a request sent right after it was accepted (see `NEAR_MISS_BETA`).

        Returns whether the rate was cut.
        """
        if self.last_cut is not None and sent_at <= self.last_cut:
            return False
        if near_miss:
            # Near misses in a row, each soon after the last one's cut: the rate is over
            # the limit by more than one shallow cut, and each cut goes twice as deep.
            soon = now - self._near_miss_cut < NEAR_MISS_SPACING
            # (Capped where the cut is CUBIC's anyway: 0.98 ** 2 ** 5 is below 0.7.)
            self._near_misses = min(self._near_misses + 1, 5) if soon else 0
            self._near_miss_cut = now
        else:
            self._near_miss_cut = -math.inf  # (in a row: with no other cut between)
        delivered = self._delivery_rate(sent_at)
        self._refusals.append([sent_at, 0.0])
        while self._refusals and self._refusals[0][0] < sent_at - DELIVERY_HISTORY:
            self._refusals.popleft()
        self.last_cut = now
        if self.rate is None:
            # First 429 of an open session: what the server accepted over the last window
            # is known to pass; slow start finds the rest. (Not what it accepted before an
            # idle spell.)
            self._forget_accepted_before(now - MEASURE_WINDOW)
            self.rate = max(STARTUP_MIN_RATE, self.accepted_rate())
            if self.ceiling is not None:
                self.rate = min(self.rate, self.ceiling)
            self.mode = Mode.LEARNING
            self._started, self._start_rate, self._confirmed = now, self.rate, self.rate
            self._flood_accepted = len(self._accepted)
            # The episode lasts a moment longer: slow start's first request leaves at once,
            # and finds the server's bucket as empty as the flood left it. Its refusal is
            # this congestion, not a sign that the new rate is too high.
            self.last_cut = now + min(STARTUP_DOUBLING / 2, 1.0 / self.rate)
            return True
        # What was refused is the rate the request left at: slow start has doubled it since,
        # once for every 0.1 s its answer took (5x in a round trip of 250 ms).
        refused = self.rate if sent_rate is None else min(self.rate, sent_rate)
        # CUBIC climbs back to its plateau (`last_max`) and holds near it. Where that lies,
        # and how far to cut, depends on what the refused rate is worth: when the server was
        # measured delivering nearly as much, the limit lies just below it. Rates known to
        # pass count as delivered: the one slow start saw accepted, for the first cut after
        # it (the delivery rate since the first 429 measures slow start, not the server),
        # unless the server had tokens saved to lend it; and, while nothing is measured, a
        # configured rate (a wrong one shows in the next refusal's measurement). Turns
        # spaced strictly were refused at the rate itself, as a bucket of one refuses only
        # requests closer together than its interval and such turns never are: the plateau
        # stays just below it.
        if delivered is None:
            delivered = refused if self.ceiling is not None else 0.0
        delivered = max(delivered, min(refused, self._left_slow_start_at))
        confirmed = delivered >= CONFIRMED_SHARE * refused
        self.last_max = (refused + min(delivered, refused)) / 2 if confirmed else refused
        if strict:
            # Whatever the last cut held delivery back to since: the limit lies just below.
            self.last_max = max(self.last_max, refused * STRICT_PLATEAU_SHARE)
        beta = MEASURED_BETA if confirmed else CUBIC_BETA
        if near_miss:
            self.last_max = refused
            beta = max(CUBIC_BETA, NEAR_MISS_BETA ** (2**self._near_misses))
        self.rate = max(MIN_RATE, self.last_max * beta)
        self._left_slow_start_at = 0.0  # it speaks for the first cut after slow start only
        if self.mode is Mode.LEARNING and self._flood_accepted <= SAVED_TOKENS_TRUSTED:
            # Leaving slow start: a rate requests were accepted at is known to pass, unless
            # the server had tokens saved to lend them (see `SAVED_TOKENS_TRUSTED`).
            self._left_slow_start_at = min(self._confirmed, refused)
            self.rate = max(self.rate, self._left_slow_start_at * MEASURED_BETA)
        if self.ceiling is not None:
            self.rate = min(self.rate, self.ceiling)
        self.mode = Mode.STEADY
        # A floor (slow start's accepted rate, `MIN_RATE`) may leave the rate above the
        # plateau: the plateau is then the rate itself.
        self.last_max = max(self.last_max, self.rate)
        # CUBIC's K: the time the curve takes to climb back to `last_max` from this cut.
        self._k = ((self.last_max - self.rate) / self._cubic_scale()) ** (1.0 / 3.0)
        return True

    def _cubic_scale(self) -> float:
        """CUBIC's C for this plateau: relative to it, and its clock slowed at slow rates
        (see `CUBIC_CLOCK_RATE`; time scaled by `clock` is C scaled by its cube)."""
        clock = min(1.0, max(CUBIC_SLOWEST_CLOCK, self.last_max / CUBIC_CLOCK_RATE))
        return CUBIC_SCALE * self.last_max * clock**3

    def _forget_accepted_before(self, when: float) -> None:
        while self._accepted and self._accepted[0] <= when:
            self._accepted.popleft()

    def accepted_rate(self) -> float:
        """Requests accepted per second, over the `MEASURE_WINDOW` up to the last accepted."""
        return len(self._accepted) / MEASURE_WINDOW

    def restore(self, rate: float | None, mode: Mode, now: float) -> None:
        """Go back to a rate that held before (cuts made while blocked meant nothing)."""
        if rate is None and self.ceiling is not None:
            rate, mode = self.ceiling, Mode.STEADY
        self.rate = rate
        self.mode = mode
        self.last_cut = now
        if mode is Mode.LEARNING and rate is not None:
            self._started, self._start_rate, self._confirmed = now, rate, rate

    def _delivery_rate(self, sent_at: float) -> float | None:
        """Accepted per second between an earlier refusal and this one: each is a lower
        bound of the server's rate, so the best of them is too (`None`: none measured)."""
        best: float | None = None
        for refused_at, accepted in self._refusals:
            span = sent_at - refused_at
            if span >= MIN_DELIVERY_SPAN:
                # One request less: the bucket may have held a token when the span began.
                best = max(best or 0.0, max(0.0, accepted - 1) / span)
        return best


@attrs.define
class _Hold:
    """A hold on every new request: until a time, then (if probing) one probe at a time."""

    until: float
    probing: bool
    started: float = 0.0
    step: float = PROBE_FIRST  # the next wait without a Retry-After (outages)
    probe_out: bool = False
    resume_rate: float | None = None
    resume_mode: Mode = Mode.OPEN
    # A full window: the time the burst it holds began to be accepted (to learn its length),
    # and the latest time a call sent during the hold was refused (the window was still
    # full then: counted from `burst_answered`, a lower bound of its length).
    window_burst: float | None = None
    still_full: float | None = None
    # When that first call was answered: it had reached the server by then, so the window
    # reopens at most its length later (see `window_probe_wait`).
    burst_answered: float | None = None


@attrs.define(eq=False)
class _WindowTest:
    """A call the window's books let out to learn something: `age` set, whether the
    window is shorter than that age of the oldest call in the books; `None`, whether the
    window takes one call more than it did. The age is from when the oldest call left;
    `oldest_round_trip`: how long its answer took, if the books count it from later
    (see `_note_answer`), else 0."""

    sent_at: float
    age: float | None
    oldest_round_trip: float = 0.0


@attrs.define
class Governor:
    """The state every request of a session passes (see the module docstring).

    `pause_threshold`: a `Retry-After` this long or longer on a 429 holds the session.
    """

    rate_control: RateControl
    pause_threshold: float
    # Give a refused turn back (see `_refund_turn`); off when a shared schedule times the
    # turns, where the turn before is often another session's.
    refunds: bool = True
    bucket: TokenBucket = attrs.field(
        default=attrs.Factory(
            lambda self: TokenBucket(rate=self.rate_control.rate, capacity=BUCKET_CAPACITY),
            takes_self=True,
        )
    )
    hold: _Hold | None = None
    held_seconds: float = 0.0
    rate_cuts: int = 0
    refused: int = 0
    _unavailable_in_a_row: int = 0
    _recent: collections.deque[tuple[float, bool]] = attrs.field(factory=collections.deque)
    _refused_since: float | None = None  # first refusal since the last accepted answer
    _refusals_in_streak: int = 0
    _before_streak: tuple[float | None, Mode] = (None, Mode.OPEN)
    # The earliest time a refusal of the streak said to retry at: servers round their
    # `Retry-After` up to whole seconds, so the earliest of several is the closest.
    _streak_retry_at: float | None = None
    _accepted_while_open: int = 0
    _opened_at: float | None = None  # the first turn granted while open
    # A sliding window's length, once seen from its first accepted call to its reopening
    # (an upper bound, refined downward), a lower bound of it, and how many calls it took.
    window: float | None = None
    window_floor: float = 0.0
    window_calls: int | None = None
    _burst_started: float | None = None  # the first accepted call since the last hold
    _burst_answered: float | None = None  # and when it was answered
    _burst_accepted: int = 0
    # The window's books: when this session's calls were sent (refused ones struck out;
    # kept whatever rules, as a window's first block shows itself only once it is full,
    # after its burst and whatever cuts came before it was recognised); and, after a
    # refusal, when the books next have room.
    _window_log: collections.deque[float] = attrs.field(
        factory=lambda: collections.deque(maxlen=WINDOW_BOOKS)
    )
    # The calls the books count from later than they left (answered late, see
    # `_note_answer`): by the time they are counted from, when they left and were answered.
    _window_moved: dict[float, tuple[float, float]] = attrs.field(factory=dict)
    _window_not_before: float = 0.0
    # The window's test call in flight (at most one), and the one the last granted turn
    # carries (`granted_test`).
    _window_test: _WindowTest | None = None
    _granted_test: _WindowTest | None = None
    _next_length_test: float = 0.0
    _next_growth_test: float = 0.0
    _window_shared: bool = False  # it took fewer calls than the books held: others use it
    _no_window: bool = False  # a window was learned and found wrong: the limiter is a rate
    # Turns at least one interval apart, none catching up (see the module docstring);
    # when the last turn was granted, and whether it left early (on saved tokens).
    strict_spacing: bool = False
    _last_turn: float | None = None
    _granted_early: bool = False
    # When the last turn was granted (its ticket's `sent_at`, unless a shared schedule
    # moved it), and when the one before it left: a refused turn took no token of the
    # server's, so the next is spaced from that one (see `_refund_turn`).
    _last_granted: float | None = None
    _turn_before: float | None = None
    # The next turn is a refused one's refund, due from then; when it was granted, until
    # answered.
    _refund_due: float | None = None
    _refund_sent: float | None = None
    _pending_cut: tuple[float, float | None] | None = None  # the refused turn's (sent, rate)
    # When this session's last two accepted requests were answered (see
    # `_answered_together`; other sessions' answers come in batches, whatever the server did).
    _last_accepted: collections.deque[float] = attrs.field(
        factory=lambda: collections.deque(maxlen=2)
    )
    _end_game: bool = False  # less than `END_GAME` seconds of work wait
    _last_full_backlog: float = -math.inf  # and when more last did

    @property
    def rate(self) -> float | None:
        """Requests per second allowed now (`None`: not limited)."""
        return self.rate_control.rate

    def in_flight_limit(self, max_concurrency: int, now: float) -> int:
        """Requests that may be in flight at once: while nothing has been refused, a
        window that starts at `INITIAL_WINDOW` and grows by one per accepted answer
        (doubling each round trip, as TCP's slow start does), so that a server with a
        small burst refuses a few requests of the first round trip, not all of them.

        It doubles at most every `OPEN_DOUBLING` seconds, too: over loopback or a fast
        link a round trip takes a millisecond, and a window doubling each one is at
        `max_concurrency` before a burst of 40 or a sliding window of 50 runs out, which
        then refuses every request in flight at once. Over a link of 100 ms the two
        growths are the same."""
        if self.rate_control.mode is not Mode.OPEN:
            return max_concurrency
        doublings = 0.0 if self._opened_at is None else (now - self._opened_at) / OPEN_DOUBLING
        by_time = INITIAL_WINDOW * 2.0 ** min(doublings, 32.0)
        by_answers = INITIAL_WINDOW + self._accepted_while_open
        return int(min(max_concurrency, by_answers, by_time))

    def mode(self, now: float) -> Mode:
        """What the governor is doing now."""
        if self.hold is not None and (self.hold.probing or now < self.hold.until):
            return Mode.PROBING if self.hold.probing else Mode.HELD
        return self.rate_control.mode

    def admit(self, now: float) -> tuple[float, bool]:
        """May a request leave now? `(0.0, is_probe)` if so (its turn is taken), else
        `(seconds to wait, False)`; `math.inf` while a probe's answer is awaited."""
        hold = self._hold_at(now)
        if hold is not None:
            if now < hold.until:
                return hold.until - now, False
            if hold.probe_out:
                return math.inf, False
            hold.probe_out = True
            self._book(now)  # accepted, a probe is in a window like any call
            self._granted_test = None
            self._granted_early = False
            return 0.0, True
        window_wait, test = self._window_turn(now)
        if window_wait > 0.0:
            return window_wait, False
        learning = self.rate_control.mode is Mode.LEARNING
        if learning:
            self.rate_control.grow(now)
            self._pace(now)
        wait = self.bucket.delay(now)
        if wait > 0.0:
            # (A test the books offered is not sent: they will offer it again.)
            # While the rate grows, look again soon: the next turn comes sooner than the
            # rate of this moment says.
            return (min(wait, STARTUP_DOUBLING / 2) if learning else wait), False
        # (Only once a rate is held: slow start's turns go faster each time anyway.)
        self._granted_early = self.rate_control.mode is Mode.STEADY and self._leaves_early(now)
        self.bucket.take(now)
        self._turn_before, self._last_turn, self._last_granted = self._last_turn, now, now
        if self._refund_due is not None:
            due, self._refund_due = self._refund_due, None
            if now - due <= 1.0 / (self.bucket.rate or math.inf):
                self._refund_sent = now
            else:
                # Granted long after it was due (nothing was waiting): its answer would
                # say nothing of the refusal. Cut as usual.
                self._settle_refund(now, near_miss=False)
        if self._opened_at is None and self.rate_control.mode is Mode.OPEN:
            self._opened_at = now
        self._book(now)
        self._granted_test = test
        if test is not None:
            self._window_test = test
        return 0.0, False

    def departed(self, granted_at: float, now: float) -> None:
        """The turn granted at `granted_at` left the throttle at `now`: its task ran late,
        the event loop busy (an `asyncio.gather` of thousands starting, say). Turns spaced
        strictly count the next interval from then, as the server will see the two."""
        if self.strict_spacing and self._last_turn == granted_at and now > granted_at:
            self._last_turn = now
            self.bucket.drain(now)

    def _leaves_early(self, now: float) -> bool:
        """Whether a turn granted now leaves less than one interval of the rate after the
        last one (on tokens saved while the pacer woke late, or while the session idled)."""
        rate = self.rate
        if rate is None or self._last_turn is None:
            return False
        return now - self._last_turn < 1.0 / rate - _TOKEN_EPSILON

    @property
    def granted_early(self) -> bool:
        """Whether the last granted turn left less than one interval after the one before
        (handed back with its answer, `on_answer(early=)`)."""
        return self._granted_early

    @property
    def granted_test(self) -> object | None:
        """The window's test the last granted turn carries (`None`: an ordinary call).
        The throttle hands it back with that call's answer (`on_answer(window_test=)`):
        several calls can leave at the same instant, so their times cannot tell them apart.
        """
        return self._granted_test

    def rebook(self, booked_at: float, sent_at: float, window_test: object | None = None) -> None:
        """A call granted at `booked_at` left at `sent_at` (it waited for a shared
        throttle's schedule): the window's books count it from then, and a test it
        carries tests the age it left at."""
        if self._unbook(booked_at):
            self._book(sent_at)
        if booked_at == self._last_granted:
            self._last_granted = None  # (its refusal is given nothing back)
        if isinstance(window_test, _WindowTest):
            window_test.sent_at = sent_at
            if window_test.age is not None:
                window_test.age += sent_at - booked_at

    def _book(self, sent_at: float) -> None:
        """Into the window's books, in order (they are sorted by send time)."""
        log = self._window_log
        if len(log) == log.maxlen:
            self._drop_oldest()  # at this size, long out of any window
        if not log or log[-1] <= sent_at:
            log.append(sent_at)
        else:
            log.insert(bisect.bisect_right(log, sent_at), sent_at)

    def unsent(self, sent_at: float) -> None:
        """The turn granted at `sent_at` was given back unsent (its caller cancelled, or a
        shared hold began): a learned window's books do not count it."""
        self._unbook(sent_at)

    def _unbook(self, sent_at: float) -> bool:
        """Strike a call out of the window's books (a refused call does not count in a
        window); False if it was not in them."""
        log = self._window_log
        index = bisect.bisect_left(log, sent_at)
        if index < len(log) and log[index] == sent_at:
            del log[index]
            return True
        return False

    def _drop_oldest(self) -> None:
        """Drop the oldest call from the books (and what moved it, unless another call is
        counted from the same instant)."""
        log = self._window_log
        counted_from = log.popleft()
        if not log or log[0] != counted_from:
            self._window_moved.pop(counted_from, None)

    def _note_answer(self, sent_at: float, now: float) -> None:
        """This session's call sent at `sent_at` was accepted at `now`. It reached the
        server in between, and the books count it from when it left, keeping it a margin
        longer than the window: answered later than that margin, it is counted from
        that margin before its answer instead, so that it stays in the books the
        window's length after its answer. (A busy event loop can hold a call a
        tenth of a second after its turn, an `asyncio.gather` of thousands starting; a
        long round trip does the same to every call, and moves it the same way.)"""
        margin = WINDOW_MARGIN if self.window is None else self._books_span() - self.window
        counted_from = now - margin
        if counted_from <= sent_at or not self._unbook(sent_at):
            return
        self._book(counted_from)
        # (Several counted from one instant: the earliest left, the latest answered.)
        left, answered = self._window_moved.get(counted_from, (sent_at, now))
        self._window_moved[counted_from] = (min(left, sent_at), max(answered, now))

    def _windowed(self) -> bool:
        """Whether a sliding window was learned and rules (no rate was learned instead)."""
        return (
            self.window is not None
            and self.window_calls is not None
            and self.rate_control.mode is not Mode.STEADY
        )

    def _books_span(self) -> float:
        """How long the books keep a call: a little longer than the learned window, as the
        server counts from when a call reached it, which lags its sending by more for some
        calls."""
        assert self.window is not None
        return self.window * (1.0 + WINDOW_MARGIN_SHARE) + WINDOW_MARGIN

    def _window_precision(self) -> float:
        """How closely the window's length is worth knowing (its books' own margin)."""
        assert self.window is not None
        return max(WINDOW_MARGIN, WINDOW_MARGIN_SHARE * self.window)

    def _window_turn(self, now: float) -> tuple[float, _WindowTest | None]:
        """Seconds until the learned window has room for one more call (0.0: it may go
        now), and the test that call would be, if it goes beyond the books' count.

        The session keeps the window's own books: at most `window_calls` calls in any
        `window` seconds. Two kinds of call go beyond them, one at a time, each refused
        at worst (a refused call does not count in such a window):

        - while the length is not known within `_window_precision`, a call when the
          oldest of the books' full count is the age `window_length_to_test` picks
          between the bounds of the length: accepted, the window is no longer than that
          age; refused, no shorter (less what that call's round trip took beyond the
          test's);
        - at most once per `WINDOW_GROWTH_EVERY`, one call more than the window took while
          every counted call is surely still in it: accepted, the window grew.
        """
        if not self._windowed():
            return 0.0, None
        assert self.window is not None
        assert self.window_calls is not None
        log = self._window_log
        span = self._age_books(now)
        if now < self._window_not_before:
            return self._window_not_before - now, None
        calls = self.window_calls
        if len(log) < calls:
            return 0.0, None
        # Full: the call that must age out before the next one goes.
        oldest = log[len(log) - calls]
        wait = oldest + span - now
        if self._window_test is not None:
            return wait, None
        if now >= self._next_growth_test and now - oldest < self.window_floor:
            return 0.0, _WindowTest(sent_at=now, age=None)
        if self.window - self.window_floor > self._window_precision():
            # One call out early, when the oldest counted call is the age to test since it
            # left (and not before the last test's window has passed).
            left, answered = self._window_moved.get(oldest, (oldest, oldest))
            length = window_length_to_test(self.window_floor, self.window)
            test_at = max(left + length, self._next_length_test)
            if test_at <= now and now - left < self.window:
                test = _WindowTest(sent_at=now, age=now - left, oldest_round_trip=answered - left)
                return 0.0, test
            if test_at > now:
                wait = min(wait, test_at - now)
        return wait, None

    def _growth_test_interval(self) -> float:
        """How long after a refused growth test the next one goes: a minute, or a window
        when the window is shared with other clients, whose part in it comes and goes."""
        assert self.window is not None
        return self.window if self._window_shared else WINDOW_GROWTH_EVERY

    def _age_books(self, now: float) -> float:
        """Drop the calls a learned window no longer holds from its books; how long they
        keep a call (`_books_span`)."""
        log = self._window_log
        span = self._books_span()
        # Compared as `log[0] + span`, the sum waits are computed from: compared as
        # `log[0] <= now - span`, rounding can keep a call whose wait is already 0.
        while log and log[0] + span <= now:
            self._drop_oldest()
        return span

    def _window_tested(self, test: object | None, answer: Answer, now: float) -> bool:
        """Learn from the answer to the window's test call; False if it was not one."""
        if test is None or test is not self._window_test:
            return False
        assert isinstance(test, _WindowTest)
        self._window_test = None
        if test.age is None:
            if answer is Answer.ACCEPTED:
                # It grew: test again at once, a call more each round trip, until refused.
                assert self.window_calls is not None
                self.window_calls += 1
                self._next_growth_test = test.sent_at
            else:
                self._next_growth_test = test.sent_at + self._growth_test_interval()
        else:
            self._next_length_test = test.sent_at + self.window_floor
            # The oldest call's way to the server is taken to be as long as the test's, as
            # for every call: accepted, the window is no longer than the age. Refused, it
            # is longer than the age less what the oldest call's round trip took beyond
            # the test's (held on its way, or its answer was: only the first is sure to
            # have kept it in the window longer).
            if answer is Answer.ACCEPTED:
                assert self.window is not None
                self.window = max(self.window_floor, min(self.window, test.age))
            elif answer is Answer.REFUSED:
                held = max(0.0, test.oldest_round_trip - (now - test.sent_at))
                self.window_floor = max(self.window_floor, test.age - held)
        return True

    def wait_estimate(self, now: float, ahead: int) -> float | None:
        """Seconds until `ahead` more requests could leave, or `None` when unknown (the
        rate is still being learned, or the session is probing)."""
        hold = self.hold
        if hold is not None and hold.probing:
            return None
        if self.rate_control.mode is Mode.LEARNING:
            return None
        held = max(0.0, hold.until - now) if hold is not None else 0.0
        rate = self.rate
        # (The tokens as of now: saved while every slot was busy count.)
        paced = 0.0 if rate is None else max(0.0, ahead + 1 - self.bucket.tokens_at(now)) / rate
        return held + max(paced, self._window_estimate(now, ahead))

    def _window_estimate(self, now: float, ahead: int) -> float:
        """Seconds until a learned window has room for `ahead` more calls and one (0.0: no
        window rules): each call goes when the call `window_calls` before it, in the
        books or ahead of it, has aged out."""
        if not self._windowed():
            return 0.0
        assert self.window_calls is not None
        span = self._age_books(now)
        first = max(now, self._window_not_before)
        calls = self.window_calls
        leaves = list(self._window_log)
        for _ in range(ahead + 1):
            # (A fail-fast session's queue is at most a deadline's worth: this stays short.)
            before = len(leaves) - calls
            leaves.append(first if before < 0 else max(first, leaves[before] + span))
        return leaves[-1] - now

    def adopt(self, rate: float, mode: Mode, now: float, *, hold_until: float | None) -> None:
        """Start from what other sessions on the same key learned (a shared throttle's
        late joiner): their rate, as the plateau CUBIC holds near, and their hold."""
        if mode not in (Mode.LEARNING, Mode.STEADY):
            mode = Mode.STEADY
        self.rate_control.restore(rate, mode, now)
        self.rate_control.last_max = max(self.rate_control.last_max, rate)
        self._pace(now)
        if hold_until is not None and hold_until > now:
            self._start_hold(now, hold_until, probing=False)

    def follow(self, rate: float, now: float) -> None:
        """Take the rate the sessions sharing a throttle agreed on (the lowest cut, or the
        highest growth since it); how the rate moves on stays this governor's."""
        if self.rate_control.mode is Mode.OPEN:
            self.adopt(rate, Mode.STEADY, now, hold_until=None)
            return
        if self.rate_control.ceiling is not None:
            rate = min(rate, self.rate_control.ceiling)
        self.rate_control.rate = max(MIN_RATE, rate)
        self._pace(now)

    def on_answer(
        self,
        answer: Answer,
        *,
        sent_at: float,
        now: float,
        probe: bool,
        retry_after: float | None = None,
        rate_bound: bool = False,
        backlog: int = 0,
        sent_rate: float | None = None,
        ours: bool = True,
        window_test: object | None = None,
        early: bool = False,
    ) -> None:
        """Learn from one answer (`retry_after` already bounded by the retry policy;
        `rate_bound`, `backlog`: requests wait for the rate, and how many; `sent_rate`:
        the rate the request was sent at; `ours`: False for another session's answer, in a
        shared throttle; `window_test`, `early`: the `granted_test` and `granted_early` of
        the request's turn)."""
        self._hold_at(now)
        # Whatever the answer, the test is over (a 503 or no answer: nothing learned).
        tested = self._window_tested(window_test, answer, now)
        if self._pending_cut is not None and (
            answer is Answer.REFUSED or (ours and sent_at == self._refund_sent)
        ):
            # The refund's answer, or another refusal meanwhile: a near miss only if the
            # refund passed (refused, or no answer: cut as usual).
            self._settle_refund(now, near_miss=answer is Answer.ACCEPTED)
        if answer is Answer.NOTHING:
            if probe and self.hold is not None:
                self.hold.probe_out = False  # nothing learned: the next probe goes
            return
        self._remember(now, unavailable=answer is Answer.UNAVAILABLE)
        if ours:
            rate = self.rate
            self._end_game = rate is not None and _in_end_game(rate, backlog)
            if rate is not None and not self._end_game:
                self._last_full_backlog = now
        if answer is Answer.ACCEPTED:
            if ours:
                self._last_accepted.append(now)
            if self.rate_control.mode is Mode.OPEN:
                self._accepted_while_open += 1
            self._unavailable_in_a_row = 0
            self._refused_since = None
            self._refusals_in_streak = 0
            # Only a request sent during the hold (a probe) says the service is back: one
            # in flight since before it was accepted under the old state of things.
            hold = self.hold
            if hold is not None and hold.probing and (probe or sent_at >= hold.started):
                self._end_hold(now)
            if self._burst_started is None:
                self._burst_started, self._burst_answered = sent_at, now
            else:
                # (The earliest sent: one answered after another may have left before it.)
                self._burst_started = min(self._burst_started, sent_at)
            self._burst_accepted += 1
            if ours:
                self._note_answer(sent_at, now)
            else:
                self._book(sent_at)  # another session's call fills the same window
            self.rate_control.on_accepted(
                sent_at,
                now,
                rate_bound=rate_bound,
                backlog=backlog,
                sent_rate=sent_rate,
                draining=self._draining(now),
            )
            self._pace(now)
        elif answer is Answer.REFUSED:
            self._on_refused(
                sent_at,
                now,
                probe=probe,
                retry_after=retry_after,
                sent_rate=sent_rate,
                tested=tested,
                early=early,
                ours=ours,
            )
        else:
            self._on_unavailable(now, probe=probe, retry_after=retry_after)

    def _on_refused(
        self,
        sent_at: float,
        now: float,
        *,
        probe: bool,
        retry_after: float | None,
        sent_rate: float | None,
        tested: bool,
        early: bool,
        ours: bool,
    ) -> None:
        self.refused += 1
        self._unbook(sent_at)  # a refused call does not count in a window
        if self.hold is not None:
            # Only a probe leaves during a hold: any other refusal is for a request sent
            # before it, which the hold already answers (unless it asks for longer).
            hold = self.hold
            if hold.window_burst is not None and sent_at >= hold.window_burst:
                # Refused while the burst's first call was in the window: no shorter. (The
                # server's Retry-After counts from when the call reached it, after it left;
                # rounded up to whole seconds, it may be up to one more than the wait.)
                still_full = sent_at if retry_after is None else sent_at + retry_after - 1.0
                hold.still_full = max(hold.still_full or 0.0, still_full)
            if probe:
                self._probe_again(now, retry_after, window=True)
            elif retry_after is not None and retry_after >= self.pause_threshold:
                self._start_hold(now, now + retry_after, probing=False)
            return
        if tested:
            return
        if self._windowed():
            # Refused with room in the books: the window is smaller, or shared with other
            # clients, and takes what the books hold. Nothing more until its oldest call ages.
            assert self.window is not None
            assert self.window_calls is not None
            span = self._age_books(now)
            log = self._window_log
            if len(log) * 2 > self.window_calls:
                if len(log) < self.window_calls:
                    # Others take part of it (and leave it again: test for that every window).
                    self._window_shared = True
                    self._next_growth_test = min(self._next_growth_test, now + self.window)
                self.window_calls = max(1, min(self.window_calls, len(log)))
                self._window_not_before = log[0] + span if log else now + PROBE_FIRST
                return
            # Refused with half its room or more unused: the limiter is no window, but a
            # slow token bucket (at 2/s, its first block and reopening look like a window
            # of a second), or a window others take most of. Learn a rate, as below.
            self._forget_window()
        if self._refused_since is None:
            self._refused_since = now
            self._before_streak = (self.rate_control.rate, self.rate_control.mode)
            self._streak_retry_at = None
        self._refusals_in_streak += 1
        if retry_after is not None:
            retry_at = now + retry_after
            if self._streak_retry_at is None or retry_at < self._streak_retry_at:
                self._streak_retry_at = retry_at
        if retry_after is not None and retry_after >= self.pause_threshold:
            # The server says when: wait exactly that long, then go on (no probing).
            self._start_hold(now, now + retry_after, probing=False)
            if self._before_streak[1] is not Mode.STEADY:
                self._measure_window()
            return
        if (
            self._refusals_in_streak >= BLOCKED_REFUSALS
            and now - self._refused_since >= self._blocked_after()
        ):
            # Nothing has passed for a while: a full window, not a rate a little too high.
            # The cuts made meanwhile measured nothing: resume at the rate before them.
            rate, mode = self._before_streak
            if mode is not Mode.STEADY:
                # Blocked before any rate was learned: the limiter is a window that took
                # a whole burst; when it reopens, it takes one again.
                rate, mode = None, Mode.OPEN
            self.rate_control.restore(rate, mode, now)
            earliest = self._streak_retry_at
            until = max(now, earliest) if earliest is not None else now + PROBE_FIRST
            self._start_hold(now, until, probing=True)
            self._measure_window()
            return
        last_cut = self.rate_control.last_cut
        spacing_refused = early or (
            self.rate_control.ceiling is not None and not (ours and self._answered_together(now))
        )
        if (
            spacing_refused
            and not self.strict_spacing
            and self.rate_control.mode is Mode.STEADY
            and (last_cut is None or sent_at > last_cut)
        ):
            # It left on saved tokens, less than one interval after the turn before, which
            # a bucket of one token refuses at any rate: from now on no turn catches up.
            # A configured rate is the server's own, so a refusal of it says as much:
            # the turns were too close (the first request, which opens a connection,
            # reaches the server late, and the next on time). Unless this session's last
            # two accepted requests were answered within an interval before the refusal:
            # a busy event loop, ours or the server's, held them and let them go at once
            # (an `asyncio.gather` of thousands starting), and a bucket with a burst
            # refuses such a bunch however the pacer spaced their turns. (Or our loop
            # read their answers late, together: then the next refusal decides.)
            # (A refusal of a congestion already cut for says nothing of the spacing. The
            # rate is cut as for any refusal; turns spaced strictly keep CUBIC's plateau
            # near the rate refused, see `RateControl.on_refused`.)
            self.strict_spacing = True
            self.bucket.capacity = 1.0
            self._pace(now)
        if ours and not early and self._refund_turn(sent_at, sent_rate, now):
            return  # how deep to cut waits for the refund's answer
        self._cut(sent_at, sent_rate, now)

    def _cut(
        self, sent_at: float, sent_rate: float | None, now: float, *, near_miss: bool = False
    ) -> None:
        """Cut the rate for a refusal of the request sent at `sent_at` (see
        `RateControl.on_refused`), once per episode."""
        opening = self.rate_control.mode is Mode.OPEN
        if self.rate_control.on_refused(
            sent_at, now, sent_rate=sent_rate, strict=self.strict_spacing, near_miss=near_miss
        ):
            self.rate_cuts += 1
            self._pace(now)
            if not opening:
                # Nothing saved up under the old rate leaves in a burst. (Slow start,
                # though, should try its first rate at once.)
                self.bucket.drain(now)

    def _settle_refund(self, now: float, *, near_miss: bool) -> None:
        """Cut for the refusal a refund followed (its answer came, or it says nothing)."""
        pending, self._pending_cut = self._pending_cut, None
        self._refund_due = self._refund_sent = None
        if pending is not None:
            self._cut(*pending, now, near_miss=near_miss)

    def _refund_turn(self, sent_at: float, sent_rate: float | None, now: float) -> bool:
        """The turn granted at `sent_at` (at `sent_rate`) was refused, and took no token
        of the server's: if no turn has left since, the next leaves at once, spaced from
        the turn before the refused one, and the cut waits for its answer (True), instead
        of a whole interval after it.

        A bucket of one refuses a turn that arrives a moment early (arrival times jitter
        by a millisecond or more), and its token comes a moment later: waiting a whole
        interval more would lose the token's interval. The refund's answer says what the
        refusal was: accepted, a near miss, a rate at the server's own or a little over
        (`NEAR_MISS_BETA`); refused too, a rate over it (the usual cut). Where answers
        come back after the next turn left (a round trip longer than an interval),
        nothing changes."""
        rate = self.bucket.rate
        turn_before = self._turn_before
        if (
            not self.refunds
            or self._refusals_in_streak != 1  # (only the first since an accepted answer)
            or self.rate_control.mode is not Mode.STEADY
            or self._pending_cut is not None
            or sent_at != self._last_granted
            or turn_before is None
            or rate is None
            or sent_at - turn_before > REFUND_SPACING / rate
        ):
            return False  # (a turn after an idle spell or a hold was not early)
        self._pending_cut = (sent_at, sent_rate)
        self._last_turn = turn_before
        next_turn = turn_before + 1.0 / rate
        self._refund_due = max(now, next_turn)
        self.bucket.next_token_at(next_turn, now)
        return True

    def _answered_together(self, now: float) -> bool:
        """Whether this session's last two accepted requests were answered within one
        interval of the rate before `now`: let go in a bunch, and refused for the bunch."""
        rate = self.rate
        last = self._last_accepted
        return rate is not None and len(last) == 2 and last[0] >= now - 1.0 / rate

    def _blocked_after(self) -> float:
        """Seconds a streak of refusals lasts before the limiter counts as blocked (see
        `BLOCKED_INTERVALS`; nothing is accepted during a streak, so the accepted rate is
        the one before it)."""
        accepted = max(MIN_RATE, self.rate_control.accepted_rate())
        return max(BLOCKED_AFTER, BLOCKED_INTERVALS / accepted)

    def _pace(self, now: float) -> None:
        """Set the pacer's bucket to the rate. Turns spaced strictly leave a margin
        further apart (`STRICT_SPACING_MARGIN`), and a wider one in the last `END_GAME`
        seconds of work: there, arrival jitter refuses a request now and then, and a
        refusal costs its call a whole `Retry-After` (a second, rounded up) at the very
        end of the job. A learned rate slows so too, when a job drains (see
        `_slows_in_end_game`)."""
        rate = self.rate
        if rate is not None and self._end_game and self._slows_in_end_game(now):
            rate *= END_GAME_SPACING
        if rate is not None and self.strict_spacing:
            rate = 1.0 / strict_interval(rate)
        self.bucket.set_rate(rate, now)

    def _slows_in_end_game(self, now: float) -> bool:
        """Whether turns slow down in the last seconds of work: when spaced strictly, or
        at a learned rate while a job drains (see `_draining`)."""
        if self.strict_spacing:
            return True
        return (
            self.rate_control.ceiling is None
            and self.rate_control.mode is Mode.STEADY
            and self._draining(now)
        )

    def _draining(self, now: float) -> bool:
        """Whether less than `END_GAME` seconds of work wait because a job is ending: its
        queue held more within the last `2 * END_GAME` seconds. A `session.bulk` keeps
        fewer calls than that queued all along (twice its concurrency), and must neither
        run slower nor stop growing its rate for it."""
        return now - self._last_full_backlog <= 2.0 * END_GAME

    def _on_unavailable(self, now: float, *, probe: bool, retry_after: float | None) -> None:
        self._unavailable_in_a_row += 1
        if self.hold is not None and self.hold.probing:
            if probe:
                self._probe_again(now, retry_after, window=False)
            return
        answers = len(self._recent)
        unavailable = sum(1 for _, failed in self._recent if failed)
        persistent = self._unavailable_in_a_row >= OUTAGE_IN_A_ROW or (
            unavailable >= OUTAGE_IN_A_ROW and unavailable * 2 > answers
        )
        if persistent:
            wait = retry_after if retry_after is not None else PROBE_FIRST
            self._start_hold(now, now + wait, probing=True)

    def _remember(self, now: float, *, unavailable: bool) -> None:
        self._recent.append((now, unavailable))
        while self._recent and self._recent[0][0] <= now - MEASURE_WINDOW:
            self._recent.popleft()

    def _measure_window(self) -> None:
        """The hold just begun waits for a full window: time its reopening from the first
        call of the burst it holds (unless a window is known, or was found not to be one)."""
        if (
            self.hold is not None
            and self.window is None
            and not self._no_window
            and self._burst_started is not None
        ):
            self.hold.window_burst = self._burst_started
            self.hold.burst_answered = self._burst_answered

    def _forget_window(self) -> None:
        """Keep no books for a window from now on (see `_on_refused`)."""
        self._no_window = True
        self.window, self.window_floor, self.window_calls = None, 0.0, None
        self._window_log.clear()
        self._window_moved.clear()
        self._window_test = self._granted_test = None
        self._window_not_before = 0.0

    def _hold_at(self, now: float) -> _Hold | None:
        """The hold in force at `now` (a hold with a known end is over once it passed)."""
        if self.hold is not None and not self.hold.probing and now >= self.hold.until:
            self._end_hold(now)
        return self.hold

    def _start_hold(self, now: float, until: float, *, probing: bool) -> None:
        hold = self.hold
        if hold is not None:
            # A hold never shortens, and probing, once started, goes on until an answer.
            if until > hold.until:
                self.held_seconds += until - max(now, hold.until)
                hold.until = until
            hold.probing = hold.probing or probing
            return
        self.held_seconds += until - now
        # A refusal waiting for its refund's answer cuts as usual (before the rate the hold
        # resumes at is kept).
        self._settle_refund(now, near_miss=False)
        self.hold = _Hold(
            until=until,
            probing=probing,
            started=now,
            resume_rate=self.rate_control.rate,
            resume_mode=self.rate_control.mode,
        )
        self.bucket.drain(now)

    def _probe_again(self, now: float, retry_after: float | None, *, window: bool) -> None:
        hold = self.hold
        assert hold is not None
        hold.probe_out = False
        if retry_after is not None:
            wait = retry_after
        elif window:
            # A window reopens all at once, after a time of its own: probes come at a tenth
            # of the time blocked so far, so a minute-long window costs a few dozen probes,
            # not hundreds, and is found within a tenth of its length.
            wait = min(PROBE_MAX, max(PROBE_FIRST, PROBE_SHARE * (now - hold.started)))
            if hold.burst_answered is not None:
                wait = window_probe_wait(now, wait, since=hold.burst_answered)
        else:
            wait = hold.step
            hold.step = min(OUTAGE_PROBE_MAX, hold.step * 2.0)
        until = now + wait
        if until > hold.until:
            self.held_seconds += until - max(now, hold.until)
            hold.until = until

    def _end_hold(self, now: float) -> None:
        hold = self.hold
        assert hold is not None
        self.hold = None
        self._refused_since = None
        self._refusals_in_streak = 0
        self._unavailable_in_a_row = 0
        self._recent.clear()
        if hold.probing:
            self.rate_control.restore(hold.resume_rate, hold.resume_mode, now)
        if self.rate_control.mode is Mode.OPEN:
            # Open again (a window reopened): what it takes is found as at first, a few
            # requests in flight, then more, not `max_concurrency` at once.
            self._accepted_while_open, self._opened_at = 0, None
        if hold.window_burst is not None:
            # Reopened: the burst's first call aged out by now. Each measurement is at
            # least the window's length, so the shortest one is the best estimate; the
            # books start with the call that found it open.
            seen = now - hold.window_burst
            self.window = seen if self.window is None else min(self.window, seen)
            self.window_calls = max(self.window_calls or 0, self._burst_accepted)
            if hold.still_full is not None:
                # (From its answer: the burst's first call may have reached the server
                # any time before then. Set with `window_burst`, see `_measure_window`.)
                assert hold.burst_answered is not None
                still_full = hold.still_full - hold.burst_answered
                self.window_floor = max(self.window_floor, min(self.window, still_full))
            self._next_growth_test = now + WINDOW_GROWTH_EVERY
        self._burst_started = self._burst_answered = None
        self._burst_accepted = 0
        self._pace(now)
        self.bucket.drain(now)
