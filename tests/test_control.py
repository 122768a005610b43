"""The governor's decisions on plain numbers: rate learning, cuts, holds and probes."""

from __future__ import annotations

import heapq
import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from c1iam._control import (
    BLOCKED_AFTER,
    CUBIC_BETA,
    CUBIC_CLOCK_RATE,
    CUBIC_SLOWEST_CLOCK,
    END_GAME_SPACING,
    INITIAL_WINDOW,
    MEASURED_BETA,
    MIN_RATE,
    NEAR_MISS_BETA,
    NEAR_MISS_SPACING,
    OPEN_DOUBLING,
    PROBE_FIRST,
    PROBE_MAX,
    PROBE_SHARE,
    STRICT_PLATEAU_SHARE,
    STRICT_SPACING_MARGIN,
    STRICT_SPACING_MARGIN_SHARE,
    WINDOW_GRAINS,
    WINDOW_GROWTH_EVERY,
    WINDOW_MARGIN,
    WINDOW_MARK_MARGIN,
    Answer,
    Governor,
    Mode,
    RateControl,
    TokenBucket,
    strict_interval,
    window_length_to_test,
    window_probe_wait,
)
from c1iam.testing import RateLimit


def _governor(rate: float | None = None) -> Governor:
    return Governor(RateControl(ceiling=rate), pause_threshold=5.0)


def _learned_window(window: float, *, floor: float, calls: int) -> Governor:
    """A governor that learned a window of at most `window` s (and more than `floor`) that
    takes `calls`, with no growth test due."""
    governor = _governor()
    governor.window, governor.window_floor, governor.window_calls = window, floor, calls
    governor._next_growth_test = math.inf
    return governor


def _send(governor: Governor, now: float) -> tuple[float, bool]:
    """Admit one request at `now`: `(sent_at, probe)`; fails if it may not leave."""
    wait, probe = governor.admit(now)
    assert wait == 0.0, f"not admitted at {now}: wait {wait}"
    return now, probe


# -- the pacer's bucket --------------------------------------------------------------------


@given(rate=st.floats(min_value=0.1, max_value=10_000), takes=st.integers(1, 50))
def test_bucket_delay_is_what_the_rate_implies(rate: float, takes: int) -> None:
    bucket = TokenBucket(rate=rate)
    now = 0.0
    for _ in range(takes):
        now += bucket.delay(now)
        assert bucket.take(now)
    assert now == pytest.approx((takes - 1) / rate, rel=1e-6, abs=1e-9)


def test_bucket_saves_up_to_its_capacity_only() -> None:
    bucket = TokenBucket(rate=10.0, capacity=2.0)
    assert bucket.take(0.0)
    assert bucket.take(100.0)
    assert bucket.take(100.0)
    assert bucket.delay(100.0) == pytest.approx(0.1)


# -- the rate --------------------------------------------------------------------------------


def test_the_first_429_starts_slow_start_from_what_passed() -> None:
    control = RateControl(ceiling=None)
    for i in range(10):
        control.on_accepted(i / 100, i / 100, rate_bound=False)
    assert control.on_refused(sent_at=0.1, now=0.1)
    assert control.mode is Mode.LEARNING
    assert control.rate == pytest.approx(10.0)  # ten accepted in the last second


def test_the_first_429_after_an_idle_spell_counts_nothing_accepted_before_it() -> None:
    # Five accepted a minute ago say nothing of the burst the server holds now: slow start
    # begins at its lowest rate, and its accepted rate vouches for the cut that ends it.
    control = RateControl(ceiling=None)
    for i in range(5):
        control.on_accepted(i / 100, i / 100, rate_bound=False)
    control.on_refused(sent_at=60.0, now=60.0)
    assert control.rate == pytest.approx(2.0)
    control.on_accepted(60.2, 60.2, rate_bound=True, sent_rate=40.0)
    control.rate = 50.0
    assert control.on_refused(sent_at=60.3, now=60.3, sent_rate=50.0)
    assert control.rate == pytest.approx(40.0 * MEASURED_BETA)


def test_slow_start_doubles_on_time_but_no_further_ahead_than_answers_allow() -> None:
    control = RateControl(ceiling=None)
    control.on_refused(sent_at=0.0, now=0.0)  # nothing passed: the floor of 2/s
    start = control.rate
    assert start is not None
    control.grow(0.3)
    assert control.rate == pytest.approx(4 * start)  # the lead over what was accepted
    # Answers keep coming, accepted at the rate they were sent at: the curve rules.
    now = 0.3
    while now < 0.6:
        rate = control.rate
        assert rate is not None
        control.on_accepted(now, now, rate_bound=True, sent_rate=rate)
        now += 1 / rate
    control.grow(now)
    assert control.rate == pytest.approx(start * 2 ** (now / 0.1), rel=0.05)


def test_slow_starts_first_request_refused_by_the_emptied_bucket_is_the_same_episode() -> None:
    control = RateControl(ceiling=None)
    control.on_refused(sent_at=0.010, now=0.013)  # the first flood: slow start from 2/s
    # Slow start's first request left at once and met the bucket the flood emptied.
    assert not control.on_refused(sent_at=0.014, now=0.016)
    assert control.mode is Mode.LEARNING


def test_a_cut_is_from_the_rate_the_refused_request_left_at() -> None:
    # Over a long round trip, slow start has doubled the rate again by the time a refusal
    # comes back: the cut starts from the rate the refused request was sent at.
    control = RateControl(ceiling=None)
    control.on_refused(sent_at=0.0, now=0.0)
    control.grow(0.2)
    sent_rate = control.rate
    assert sent_rate is not None
    control.on_accepted(0.2, 0.3, rate_bound=True, sent_rate=sent_rate)  # 4x lead allowed
    control.grow(0.3)  # the answer took 0.1 s: the curve doubled meanwhile
    assert control.rate == pytest.approx(2 * sent_rate)
    assert control.on_refused(sent_at=0.2, now=0.3, sent_rate=sent_rate)
    assert control.mode is Mode.STEADY
    assert control.last_max == pytest.approx(sent_rate)  # not the doubled rate
    assert control.rate is not None
    assert control.rate <= sent_rate


def test_one_cut_per_congestion_episode() -> None:
    control = RateControl(ceiling=100.0)
    assert control.on_refused(sent_at=1.0, now=1.0)
    after_first = control.rate
    assert after_first is not None
    # Refused at the configured rate, nothing measured: the configuration is trusted.
    assert after_first == pytest.approx(100.0 * MEASURED_BETA)
    # Requests sent before the cut (or in the same instant) were part of the same congestion.
    assert not control.on_refused(sent_at=1.0, now=1.01)
    assert not control.on_refused(sent_at=0.99, now=1.01)
    assert control.on_refused(sent_at=1.02, now=1.05)
    assert control.rate == pytest.approx(after_first * MEASURED_BETA)


def test_a_configured_rate_is_trusted_until_a_measurement_contradicts_it() -> None:
    control = RateControl(ceiling=100.0)
    control.on_refused(sent_at=0.0, now=0.0)
    assert control.rate == pytest.approx(95.0)
    # 20 accepted over the next second: the server delivers far less than configured.
    for i in range(1, 21):
        control.on_accepted(i / 20, i / 20, rate_bound=True)
    refused_at = control.rate
    assert refused_at is not None
    assert control.on_refused(sent_at=1.0, now=1.0)
    assert control.last_max == pytest.approx(refused_at)
    assert control.rate == pytest.approx(refused_at * CUBIC_BETA)


def test_a_cut_confirmed_by_the_delivery_rate_is_shallow() -> None:
    control = RateControl(ceiling=50.0)
    control.on_refused(sent_at=0.0, now=0.0)  # to 47.5/s
    assert control.rate is not None
    # 45 accepted over the next second: the server delivered 44/s between two refusals.
    for i in range(1, 46):
        control.on_accepted(i / 45, i / 45, rate_bound=True)
    refused_at = control.rate
    assert refused_at is not None
    assert control.on_refused(sent_at=1.01, now=1.01)
    delivered = (45 - 1) / 1.01
    # CUBIC's plateau halfway between the refused and the delivered rate; a shallow cut.
    assert control.last_max == pytest.approx((refused_at + delivered) / 2)
    assert control.rate == pytest.approx(control.last_max * MEASURED_BETA)


@given(
    limit=st.floats(min_value=1.0, max_value=500.0),
    span=st.floats(min_value=0.3, max_value=9.0),
    sent_share=st.floats(min_value=0.0, max_value=1.0),
)
def test_the_delivery_rate_never_exceeds_the_servers_rate(
    limit: float, span: float, sent_share: float
) -> None:
    # Between two refusals a token bucket accepts at most `limit * span` (+1 saved token),
    # whatever the client sent: so the measurement is a lower bound of the limit.
    control = RateControl(ceiling=1_000.0)
    control.on_refused(sent_at=0.0, now=0.0)
    accepted = math.floor(limit * span * sent_share) + 1
    for i in range(accepted):
        control.on_accepted(span * (i + 1) / (accepted + 1), 0.0, rate_bound=False)
    delivered = control._delivery_rate(span)
    assert delivered is not None
    assert delivered <= limit + 1e-9


@given(
    accepted=st.integers(0, 200),
    refusals=st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=1, max_size=20),
)
def test_the_rate_is_always_a_real_positive_number(accepted: int, refusals: list[float]) -> None:
    control = RateControl(ceiling=None)
    now = 0.0
    for gap in refusals:
        for i in range(accepted):
            control.on_accepted(now + i / 1000, now + i / 1000, rate_bound=True, backlog=10**6)
        now += gap + accepted / 1000
        control.on_refused(sent_at=now, now=now)
        control.on_accepted(now + 0.5, now + 0.5, rate_bound=True, backlog=10**6)
        assert isinstance(control.rate, float)
        assert MIN_RATE <= control.rate < math.inf
        assert isinstance(control._k, float)


def test_leaving_slow_start_above_a_confirmed_plateau_keeps_cubic_real() -> None:
    # Slow start at 100/s, requests accepted at 100/s, a refusal after the server delivered
    # 85/s since the last one: the plateau (92.5) lies below slow start's floor (95).
    control = RateControl(ceiling=None)
    control.on_refused(sent_at=0.0, now=0.0)
    control.rate = 100.0
    for i in range(86):
        control.on_accepted(i / 86, i / 86, rate_bound=False, sent_rate=100.0)
    assert control.on_refused(sent_at=1.0, now=1.0)
    assert control.rate == pytest.approx(95.0)
    assert control.last_max == pytest.approx(95.0)
    assert isinstance(control._k, float)
    control.on_accepted(1.5, 1.5, rate_bound=True, backlog=10**6)
    assert isinstance(control.rate, float)


def _climb_back(rate: float) -> float:
    """Seconds a configured `rate`, cut by its first refusal, takes to climb back to it."""
    control = RateControl(ceiling=rate)
    assert control.on_refused(sent_at=0.0, now=0.0)
    assert control.last_max == rate
    assert control.rate == pytest.approx(rate * MEASURED_BETA)
    now = 0.0
    while (control.rate or 0.0) < rate * 0.999:
        now += 0.01
        control.on_accepted(now, now, rate_bound=True, backlog=10**6)
    return now


def test_cubic_climbs_back_in_as_many_requests_at_a_slow_rate() -> None:
    # At CUBIC_CLOCK_RATE and above, CUBIC's curve runs in seconds; below, slower in
    # proportion, so that a climb spans as many requests and ends in a refusal as rarely
    # (at 2/s, a climb of 2.3 s spanned 5 requests: one refused in six). Never more than
    # 1 / CUBIC_SLOWEST_CLOCK times slower, or a plateau learned too low would hold for
    # minutes.
    fast = _climb_back(2 * CUBIC_CLOCK_RATE)
    assert _climb_back(CUBIC_CLOCK_RATE) == pytest.approx(fast, rel=0.02)
    assert _climb_back(CUBIC_CLOCK_RATE / 2) == pytest.approx(fast * 2, rel=0.02)
    slowest = CUBIC_CLOCK_RATE * CUBIC_SLOWEST_CLOCK
    assert _climb_back(slowest) == pytest.approx(fast / CUBIC_SLOWEST_CLOCK, rel=0.02)
    assert _climb_back(slowest / 4) == pytest.approx(fast / CUBIC_SLOWEST_CLOCK, rel=0.02)


def test_the_rate_never_drops_below_the_floor_nor_above_the_ceiling() -> None:
    control = RateControl(ceiling=10.0)
    for step in range(50):
        control.on_refused(sent_at=float(step), now=float(step))
    assert control.rate == MIN_RATE
    for step in range(500, 1500):
        control.on_accepted(step / 10, step / 10, rate_bound=True, backlog=10**6)
    assert control.rate == 10.0


def test_no_probing_upward_in_the_last_second_of_work() -> None:
    control = RateControl(ceiling=None)
    control.on_refused(sent_at=0.0, now=0.0)
    control.on_refused(sent_at=0.6, now=0.6)  # steady, below the last refused rate
    before = control.rate
    assert before is not None
    control.on_accepted(5.0, 5.0, rate_bound=True, backlog=int(before / 2))
    assert control.rate == before
    control.on_accepted(5.1, 5.1, rate_bound=True, backlog=int(before * 2))
    assert control.rate > before


def test_a_short_queue_all_along_does_not_stop_the_rate_growing() -> None:
    # A `session.bulk` keeps twice its concurrency queued: less than a second of work at
    # 40/s, all along. That is no job ending: CUBIC climbs as for any queue.
    governor = _governor()
    for refused_at in (0.0, 0.6):  # learned, from the start with a short queue: steady
        governor.on_answer(
            Answer.REFUSED, sent_at=refused_at, now=refused_at, probe=False, backlog=1
        )
    before = governor.rate
    assert before is not None
    assert governor.rate_control.mode is Mode.STEADY

    def accept(now: float, backlog: int) -> None:
        governor.on_answer(
            Answer.ACCEPTED, sent_at=now, now=now, probe=False, rate_bound=True, backlog=backlog
        )

    accept(1.5, backlog=int(before / 2))
    assert governor.rate is not None
    assert governor.rate > before
    assert governor.bucket.rate == governor.rate  # nor is it slowed
    # A job draining (its queue held more a moment ago) stops probing upward.
    accept(1.6, backlog=int(before * 2))
    grown = governor.rate
    accept(1.7, backlog=int(before / 2))
    assert governor.rate == grown


# -- a server whose bucket holds one token ------------------------------------------------------


def test_a_turn_that_catches_up_on_a_late_wake_leaves_early() -> None:
    governor = _governor(rate=100.0)  # one turn every 10 ms
    _send(governor, 0.0)
    assert not governor.granted_early
    _send(governor, 0.014)  # the pacer woke 4 ms late: not early
    assert not governor.granted_early
    _send(governor, 0.020)  # on the 0.4 token saved: 6 ms after the last turn
    assert governor.granted_early
    _send(governor, 0.030)
    assert not governor.granted_early


def _spaced_strictly(governor: Governor) -> float:
    """Refuse a turn that caught up (turns are spaced strictly from then on); the time."""
    _send(governor, 0.0)
    _send(governor, 0.014)
    sent_at, _ = _send(governor, 0.020)
    assert governor.granted_early
    governor.on_answer(
        Answer.REFUSED, sent_at=sent_at, now=0.021, probe=False, early=True, backlog=500
    )
    assert governor.strict_spacing
    return 0.021


def test_an_early_turn_refused_spaces_turns_strictly() -> None:
    governor = _governor(rate=100.0)
    _spaced_strictly(governor)
    assert governor.rate_cuts == 1
    assert governor.rate == pytest.approx(95.0)  # a configured rate, trusted: shallow
    # No turn leaves less than one interval (and a margin) after the last now, late wake
    # or not.
    interval = strict_interval(95.0)
    _send(governor, 0.034)
    assert governor.admit(0.040)[0] == pytest.approx(0.034 + interval - 0.040)
    _send(governor, 0.034 + interval)
    assert not governor.granted_early


def test_refused_turns_spaced_strictly_keep_the_plateau_near_the_refused_rate() -> None:
    # Refusals by a bucket of one after the last cut held delivery back: what was delivered
    # meanwhile (a lower bound) would drag the plateau down with each, as it does when turns
    # catch up (see test_a_cut_confirmed_by_the_delivery_rate_is_shallow); the refused
    # rate, which turns never are closer than, says where the limit lies.
    control = RateControl(ceiling=None, rate=40.0, mode=Mode.STEADY)
    assert control.on_refused(sent_at=0.0, now=0.0, strict=True)  # nothing measured yet
    assert control.last_max == pytest.approx(40.0)
    assert control.rate == pytest.approx(40.0 * CUBIC_BETA)
    control.rate = 38.0  # CUBIC climbed back
    for i in range(1, 36):  # 35 accepted over the next second: 34/s delivered
        control.on_accepted(i / 35, i / 35, rate_bound=True)
    refused_at = control.rate
    assert refused_at is not None
    assert control.on_refused(sent_at=1.01, now=1.01, strict=True)
    assert control.last_max == pytest.approx(refused_at * STRICT_PLATEAU_SHARE)
    assert control.rate == pytest.approx(refused_at * STRICT_PLATEAU_SHARE * MEASURED_BETA)


def test_the_governor_tells_the_rate_its_turns_are_spaced_strictly() -> None:
    governor = _governor(rate=100.0)
    now = _spaced_strictly(governor)
    now += governor.admit(now)[0]
    sent_at, _ = _send(governor, now)
    governor.on_answer(Answer.REFUSED, sent_at=sent_at, now=now + 0.001, probe=False)
    assert governor.rate_cuts == 2
    # Nothing measured since: trusted, the plateau at the rate refused, a shallow cut.
    assert governor.rate_control.last_max == pytest.approx(95.0)
    assert governor.rate == pytest.approx(95.0 * MEASURED_BETA)


def test_spaced_strictly_the_last_second_of_work_leaves_a_margin() -> None:
    governor = _governor(rate=100.0)
    sent_at = _spaced_strictly(governor)
    sent_at += governor.admit(sent_at)[0]
    _send(governor, sent_at)
    governor.on_answer(Answer.ACCEPTED, sent_at=sent_at, now=sent_at, probe=False, backlog=500)
    rate = governor.rate
    assert rate is not None
    assert governor.bucket.rate == pytest.approx(1.0 / strict_interval(rate))
    sent_at += governor.admit(sent_at)[0]
    _send(governor, sent_at)
    # 50 calls wait: half a second of work, where a refusal would cost a `Retry-After`.
    governor.on_answer(Answer.ACCEPTED, sent_at=sent_at, now=sent_at, probe=False, backlog=50)
    assert governor.bucket.rate == pytest.approx(1.0 / strict_interval(rate * END_GAME_SPACING))
    assert governor.rate == rate  # the rate itself is what it was


def test_a_learned_rate_slows_in_the_last_second_of_a_draining_job_only() -> None:
    governor = _governor()
    governor.rate_control.rate, governor.rate_control.mode = 40.0, Mode.STEADY  # learned
    rate = 40.0
    # A `session.bulk` keeps fewer than a second's worth queued all along: full speed.
    governor.on_answer(Answer.ACCEPTED, sent_at=0.6, now=0.601, probe=False, backlog=10)
    assert governor.bucket.rate == rate
    # A job whose queue held more drains: its last second is slower.
    governor.on_answer(Answer.ACCEPTED, sent_at=0.7, now=0.701, probe=False, backlog=500)
    assert governor.bucket.rate == rate
    governor.on_answer(Answer.ACCEPTED, sent_at=0.8, now=0.801, probe=False, backlog=10)
    assert governor.bucket.rate == pytest.approx(rate * END_GAME_SPACING)
    # ... until it has stayed short long enough to be a bulk's steady queue.
    governor.on_answer(Answer.ACCEPTED, sent_at=3.0, now=3.001, probe=False, backlog=10)
    assert governor.bucket.rate == rate


@given(rate=st.floats(min_value=MIN_RATE, max_value=10_000))
def test_turns_spaced_strictly_leave_a_margin_of_at_most_a_small_share(rate: float) -> None:
    governor = _governor(rate=rate)
    governor.strict_spacing = True
    governor.on_answer(Answer.ACCEPTED, sent_at=0.0, now=0.0, probe=False, backlog=1_000_000)
    assert governor.bucket.rate is not None
    margin = 1.0 / governor.bucket.rate - 1.0 / rate
    assert 0.0 < margin <= STRICT_SPACING_MARGIN + 1e-12
    assert margin <= STRICT_SPACING_MARGIN_SHARE / rate * (1 + 1e-9)


def test_turns_spaced_strictly_count_from_when_each_really_left() -> None:
    governor = _governor(rate=100.0)
    now = _spaced_strictly(governor)
    interval = strict_interval(95.0)
    now += governor.admit(now)[0]
    granted_at, _ = _send(governor, now)
    # Its task ran 5 ms after the turn was granted (the event loop was busy): the server
    # sees it then, so the next turn is an interval after that.
    governor.departed(granted_at, granted_at + 0.005)
    assert governor.admit(granted_at + interval)[0] == pytest.approx(0.005)
    next_at, _ = _send(governor, granted_at + 0.005 + interval)
    # A turn that is no longer the last one granted moves nothing.
    governor.departed(granted_at, next_at + 0.002)
    assert governor.admit(next_at + interval)[0] == 0.0


def test_turns_not_spaced_strictly_catch_up_on_a_late_departure() -> None:
    governor = _governor(rate=100.0)
    granted_at, _ = _send(governor, 0.0)
    governor.departed(granted_at, 0.004)
    assert governor.admit(0.010)[0] == 0.0  # (a bucket of five or more: nothing lost)


def test_a_refusal_of_a_congestion_already_cut_for_spaces_nothing() -> None:
    # Slow start's turns are never early; nor does a late answer of the episode just cut
    # for (the overshoot refuses every turn in flight) say anything of the spacing.
    governor = _governor()
    sent_at, _ = _send(governor, 0.0)
    governor.on_answer(Answer.REFUSED, sent_at=sent_at, now=0.001, probe=False)
    assert governor.rate_control.mode is Mode.LEARNING
    now = 1.0
    turns: list[tuple[float, bool, float]] = []  # (time, early, rate) of each turn
    while len(turns) < 20:
        wait, _ = governor.admit(now)
        if wait == 0.0:
            turns.append((now, governor.granted_early, governor.rate or math.inf))
        now += wait + 0.004  # the pacer wakes 4 ms late each time
    assert not any(early for _, early, _ in turns)  # learning: however soon after the last
    # (Some did leave within one interval of the turn before, on tokens saved meanwhile.)
    assert any(b[0] - a[0] < 1.0 / b[2] for a, b in itertools.pairwise(turns))
    governor.rate_control.mode = Mode.STEADY
    governor.rate_control.last_cut = 2.0
    governor.on_answer(Answer.REFUSED, sent_at=1.9, now=2.1, probe=False, early=True)
    assert not governor.strict_spacing


def test_an_on_time_turn_refused_cuts_a_learned_rate() -> None:
    governor = _governor()
    governor.rate_control.rate, governor.rate_control.mode = 100.0, Mode.STEADY
    sent_at, _ = _send(governor, 0.0)
    governor.on_answer(Answer.REFUSED, sent_at=sent_at, now=0.001, probe=False, early=False)
    assert governor.rate_cuts == 1
    assert not governor.strict_spacing  # the rate may be too high, not the spacing


def test_a_refusal_of_a_configured_rate_spaces_turns_strictly() -> None:
    # The rate is the server's own: turns were too close, the first one late, say (it
    # opened a connection) and the next on time.
    governor = _governor(rate=100.0)
    sent_at, _ = _send(governor, 0.0)
    governor.on_answer(Answer.REFUSED, sent_at=sent_at, now=0.001, probe=False, early=False)
    assert governor.rate_cuts == 1
    assert governor.strict_spacing


def test_a_configured_rate_refused_in_a_bunch_keeps_its_spacing() -> None:
    # Requests held up together (an event loop busy starting thousands of calls) and let
    # go at once: a bucket with a burst takes some of them and refuses the rest, however
    # the pacer spaced their turns. A bucket of one would have accepted one at most.
    governor = _governor(rate=100.0)  # one turn every 10 ms
    sent = [_send(governor, when)[0] for when in (0.0, 0.01, 0.02)]
    for sent_at, answered in zip(sent[:2], (0.0300, 0.0302), strict=True):
        governor.on_answer(Answer.ACCEPTED, sent_at=sent_at, now=answered, probe=False)
    governor.on_answer(Answer.REFUSED, sent_at=sent[2], now=0.0304, probe=False, early=False)
    assert not governor.strict_spacing
    refund_at, _ = _send(governor, 0.0304)  # refused too: the usual cut
    governor.on_answer(Answer.REFUSED, sent_at=refund_at, now=0.0305, probe=False)
    assert governor.rate_cuts == 1
    assert not governor.strict_spacing


@pytest.mark.parametrize(
    ("accepted_answers", "early"),
    [
        ((1.005, 1.025), False),  # one answer within the interval before: no bunch
        ((1.022, 1.025), True),  # a turn that caught up: refused for its spacing
    ],
)
def test_a_configured_rate_refused_out_of_a_bunch_is_spaced_strictly(
    accepted_answers: tuple[float, float], early: bool
) -> None:
    governor = _governor(rate=100.0)  # one turn every 10 ms
    refused_at = _send(governor, 1.0)[0]
    for answered in accepted_answers:
        governor.on_answer(Answer.ACCEPTED, sent_at=0.9, now=answered, probe=False)
    governor.on_answer(Answer.REFUSED, sent_at=refused_at, now=1.03, probe=False, early=early)
    assert governor.strict_spacing


def test_other_sessions_answers_say_nothing_of_a_bunch() -> None:
    # A shared throttle hands on other sessions' answers in batches, whatever the server
    # did, and their refusals were let go by their own event loops.
    governor = _governor(rate=100.0)
    sent_at, _ = _send(governor, 0.0)
    for answered in (0.0050, 0.0052):
        governor.on_answer(Answer.ACCEPTED, sent_at=0.0, now=answered, probe=False, ours=False)
    governor.on_answer(Answer.REFUSED, sent_at=sent_at, now=0.0054, probe=False, early=False)
    assert governor.strict_spacing
    other = _governor(rate=100.0)
    for answered in (0.0050, 0.0052):
        other.on_answer(Answer.ACCEPTED, sent_at=0.0, now=answered, probe=False)
    other.on_answer(Answer.REFUSED, sent_at=0.001, now=0.0054, probe=False, ours=False)
    assert other.strict_spacing


# -- a refused turn's refund, and near misses ------------------------------------------------


def _next_turn(governor: Governor, now: float) -> float:
    """Take the next turn the pacer lets out at `now` or later; when it left."""
    wait, _ = governor.admit(now)
    if wait > 0.0:
        now, _ = _send(governor, now + wait)
    return now


def _accepted_turns(governor: Governor, count: int, now: float) -> float:
    """Send `count` turns as the pacer lets them out, each accepted a millisecond after it
    left, with plenty of work waiting; the time the last one left."""
    for _ in range(count):
        now = _next_turn(governor, now)
        governor.on_answer(Answer.ACCEPTED, sent_at=now, now=now + 0.001, probe=False, backlog=1000)
    return now


def _refused_on_time(governor: Governor, now: float) -> float:
    """The next turn, refused a millisecond after it left; the time it left."""
    sent_at = _next_turn(governor, now)
    governor.on_answer(
        Answer.REFUSED, sent_at=sent_at, now=sent_at + 0.001, probe=False, backlog=1000
    )
    return sent_at


def _refund_answered(answer: Answer) -> tuple[Governor, float]:
    """A configured 40/s: a turn refused on time, the refund sent at once and answered
    `answer` a millisecond later; the governor and when the refund left."""
    governor = _governor(rate=40.0)
    refused_at = _refused_on_time(governor, _accepted_turns(governor, 3, 0.0))
    refund_at, _ = _send(governor, refused_at + 0.001)
    governor.on_answer(answer, sent_at=refund_at, now=refund_at + 0.001, probe=False, backlog=1000)
    return governor, refund_at


def test_a_refused_turn_gives_its_interval_back() -> None:
    # A bucket of one refused a turn that arrived a moment before its token: the token is
    # still there a moment later, and waiting a whole interval would lose it.
    governor = _governor(rate=40.0)
    turn_before = _accepted_turns(governor, 3, 0.0)
    refused_at = _next_turn(governor, turn_before)
    answered = refused_at + 0.0001
    governor.on_answer(Answer.REFUSED, sent_at=refused_at, now=answered, probe=False, backlog=1000)
    assert governor.rate_cuts == 0  # how deep to cut waits for the refund's answer
    # Spaced from the turn before the refused one (strictly from now on: a configured rate
    # refused), not from the refused one.
    wait, _ = governor.admit(answered)
    assert wait == pytest.approx(turn_before + strict_interval(40.0) - answered)
    assert wait < 0.001


def test_a_refund_accepted_was_a_near_miss_cut_shallow() -> None:
    governor, refund_at = _refund_answered(Answer.ACCEPTED)
    assert governor.rate_cuts == 1
    assert governor.rate_control.last_max == pytest.approx(40.0)
    assert governor.rate == pytest.approx(40.0 * NEAR_MISS_BETA)
    # The turn after is a whole interval after the cut, as after any cut.
    wait = governor.admit(refund_at + 0.001)[0]
    assert wait == pytest.approx(strict_interval(40.0 * NEAR_MISS_BETA))


def test_a_refund_refused_too_cuts_as_usual_and_gets_no_refund() -> None:
    governor, refund_at = _refund_answered(Answer.REFUSED)
    assert governor.rate_cuts == 1
    assert governor.rate == pytest.approx(40.0 * MEASURED_BETA)  # a configured rate: trusted
    # The next turn is a whole interval after the cut, as after any cut.
    assert governor.admit(refund_at + 0.001)[0] == pytest.approx(strict_interval(38.0))


def test_only_the_first_refusal_since_an_accepted_answer_is_given_back() -> None:
    # A full window refuses everything: giving each refusal back would double them.
    governor, refund_at = _refund_answered(Answer.REFUSED)
    cuts = governor.rate_cuts
    again = _refused_on_time(governor, refund_at + 0.001)
    assert governor.rate_cuts == cuts + 1  # cut at once: nothing waits for a refund
    assert governor.admit(again + 0.001)[0] > 0.0


@pytest.mark.parametrize("answer", [Answer.NOTHING, Answer.UNAVAILABLE])
def test_a_refund_whose_answer_says_nothing_cuts_as_usual(answer: Answer) -> None:
    governor, _ = _refund_answered(answer)
    assert governor.rate_cuts == 1
    assert governor.rate == pytest.approx(40.0 * MEASURED_BETA)


def test_no_refund_once_the_next_turn_left() -> None:
    # Over a round trip longer than an interval, the refusal comes back after later turns
    # left: nothing to give back, the cut is at once.
    governor = _governor(rate=40.0)
    refused_at = _next_turn(governor, _accepted_turns(governor, 3, 0.0))
    next_at = _next_turn(governor, refused_at)
    governor.on_answer(Answer.REFUSED, sent_at=refused_at, now=next_at + 0.001, probe=False)
    assert governor.rate_cuts == 1
    assert governor.admit(next_at + 0.001)[0] > 0.0


def test_a_hold_cuts_for_a_refusal_waiting_for_its_refund() -> None:
    governor = _governor(rate=40.0)
    refused_at = _refused_on_time(governor, _accepted_turns(governor, 3, 0.0))
    # Before the refund leaves, a call in flight is told to wait ten seconds.
    governor.on_answer(
        Answer.REFUSED, sent_at=refused_at - 0.01, now=refused_at + 0.002, probe=False,
        retry_after=10.0, backlog=1000,
    )  # fmt: skip
    assert governor.mode(refused_at + 0.002) is Mode.HELD
    assert governor.rate_cuts == 1  # every 429 slows the session: cut as usual, at once
    assert governor.rate == pytest.approx(40.0 * MEASURED_BETA)
    after_hold = _next_turn(governor, refused_at + 10.01)
    governor.on_answer(
        Answer.ACCEPTED, sent_at=after_hold, now=after_hold + 0.001, probe=False, backlog=1000
    )
    assert governor.rate_cuts == 1  # the turn after the hold is no refund


def test_an_outage_cuts_for_a_refusal_waiting_for_its_refund() -> None:
    governor = _governor(rate=40.0)
    refused_at = _refused_on_time(governor, _accepted_turns(governor, 3, 0.0))
    for step in range(3):  # calls in flight answered 503: an outage holds the session
        governor.on_answer(
            Answer.UNAVAILABLE, sent_at=refused_at - 0.01, now=refused_at + 0.002 + step / 1000,
            probe=False, backlog=1000,
        )  # fmt: skip
    assert governor.mode(refused_at + 0.01) is Mode.PROBING
    assert governor.rate_cuts == 1
    assert governor.rate == pytest.approx(40.0 * MEASURED_BETA)


def test_a_call_a_shared_schedule_booked_is_given_nothing_back() -> None:
    # Its time is the schedule's, even where a coarse clock did not move meanwhile.
    governor = _governor(rate=40.0)
    granted_at = _next_turn(governor, _accepted_turns(governor, 3, 0.0))
    governor.rebook(granted_at, granted_at)
    governor.on_answer(
        Answer.REFUSED, sent_at=granted_at, now=granted_at + 0.001, probe=False, backlog=1000
    )
    assert governor.rate_cuts == 1


def test_a_refusal_is_given_nothing_back_after_an_idle_spell_or_when_shared() -> None:
    # Idle: the refused turn left long after the one before, so it was not early.
    governor = _governor(rate=40.0)
    refused_at = _refused_on_time(governor, _accepted_turns(governor, 3, 0.0) + 10.0)
    assert governor.rate_cuts == 1
    assert governor.admit(refused_at + 0.001)[0] > 0.0
    # Shared: the turn before is often another session's.
    shared = Governor(RateControl(ceiling=40.0), pause_threshold=5.0, refunds=False)
    refused_at = _refused_on_time(shared, _accepted_turns(shared, 3, 0.0))
    assert shared.rate_cuts == 1
    assert shared.admit(refused_at + 0.001)[0] > 0.0


def test_a_refund_granted_long_after_it_was_due_says_nothing() -> None:
    # Nothing was waiting when the refusal came back: the next turn, a second later,
    # proves nothing of the token a moment after the refused one.
    governor = _governor(rate=40.0)
    refused_at = _refused_on_time(governor, _accepted_turns(governor, 3, 0.0))
    _send(governor, refused_at + 1.0)
    assert governor.rate_cuts == 1
    assert governor.rate == pytest.approx(40.0 * MEASURED_BETA)


def test_near_misses_in_a_row_cut_twice_as_deep_each_time() -> None:
    control = RateControl(ceiling=None, rate=50.0, mode=Mode.STEADY)
    assert control.on_refused(sent_at=-0.1, now=-0.1)  # an ordinary cut, just before
    control.rate = 40.0
    assert control.on_refused(sent_at=0.0, now=0.0, near_miss=True)
    assert control.last_max == pytest.approx(40.0)
    assert control.rate == pytest.approx(40.0 * NEAR_MISS_BETA)
    # Soon after: a rate over the limit by more than one shallow cut (a bucket with a
    # burst, sent to too fast, refuses again soon after each).
    expected = 40.0 * NEAR_MISS_BETA
    for step, beta in enumerate((NEAR_MISS_BETA**2, NEAR_MISS_BETA**4), start=1):
        now = step * NEAR_MISS_SPACING / 2
        assert control.on_refused(sent_at=now, now=now, near_miss=True)
        expected *= beta
        assert control.rate == pytest.approx(expected)
    # Later, a near miss is a near miss again.
    later = NEAR_MISS_SPACING * 2.5
    assert control.on_refused(sent_at=later, now=later, near_miss=True)
    assert control.rate == pytest.approx(expected * NEAR_MISS_BETA)


def test_near_misses_count_in_a_row_only_with_no_other_cut_between() -> None:
    control = RateControl(ceiling=None, rate=40.0, mode=Mode.STEADY)
    assert control.on_refused(sent_at=0.0, now=0.0, near_miss=True)
    assert control.on_refused(sent_at=0.1, now=0.1)  # an ordinary cut
    refused = control.rate
    assert refused is not None
    assert control.on_refused(sent_at=0.2, now=0.2, near_miss=True)
    assert control.rate == pytest.approx(refused * NEAR_MISS_BETA)  # not twice as deep
    # However many in a row, the cut is at most CUBIC's.
    for step in range(1, 2000):
        now = 0.2 + step * NEAR_MISS_SPACING / 4
        control.rate = 40.0
        assert control.on_refused(sent_at=now, now=now, near_miss=True)
    assert control.rate == pytest.approx(40.0 * CUBIC_BETA)


def test_the_rate_slow_start_saw_accepted_vouches_for_the_first_cut_after_it() -> None:
    control = RateControl(ceiling=None)
    control.on_refused(sent_at=0.0, now=0.0)  # slow start from 2/s
    for i in range(1, 6):
        control.on_accepted(i / 10, i / 10, rate_bound=True, sent_rate=40.0)
    control.rate = 50.0
    assert control.on_refused(sent_at=0.5, now=0.5, sent_rate=50.0)
    assert control.mode is Mode.STEADY
    assert control.rate == pytest.approx(40.0 * MEASURED_BETA)
    # Refused again at 38/s, with only slow start's few answers measured since the first
    # 429: a rate slow start saw accepted, so the limit is close, and the cut shallow.
    assert control.on_refused(sent_at=0.6, now=0.6, sent_rate=38.0)
    assert control.last_max == pytest.approx(38.0)
    assert control.rate == pytest.approx(38.0 * MEASURED_BETA)
    # It vouches once: the next cut is measured on its own.
    assert control.on_refused(sent_at=0.7, now=0.7, sent_rate=36.1)
    assert control.rate == pytest.approx(36.1 * CUBIC_BETA)


@pytest.mark.parametrize(("flood", "vouched"), [(1, True), (2, True), (3, False), (5, False)])
def test_slow_starts_rates_vouch_for_nothing_once_the_flood_showed_tokens_saved(
    flood: int, vouched: bool
) -> None:
    # The open flood got `flood` requests through before its first 429. A bucket that holds
    # several saves them again while slow start is slow, and lends them to requests far
    # above its rate: here, 110/s.
    control = RateControl(ceiling=None)
    for i in range(flood):
        control.on_accepted(i / 100, i / 100, rate_bound=True)
    control.on_refused(sent_at=0.05, now=0.05)  # slow start from what passed
    for i in range(1, 6):
        control.on_accepted(0.1 + i / 110, 0.1 + i / 110, rate_bound=True, sent_rate=110.0)
    control.rate = 120.0
    assert control.on_refused(sent_at=0.2, now=0.2, sent_rate=120.0)
    assert control.mode is Mode.STEADY
    # Nothing measured yet (0.15 s since the first 429): only slow start's rate can vouch.
    expected = 110.0 * MEASURED_BETA if vouched else 120.0 * CUBIC_BETA
    assert control.rate == pytest.approx(expected)


# -- the in-flight window before anything is refused ------------------------------------------


def test_an_open_session_starts_with_a_small_window_that_grows_per_answer() -> None:
    governor = _governor()
    assert governor.in_flight_limit(16, 0.0) == INITIAL_WINDOW
    _send(governor, 0.0)
    for _ in range(5):
        governor.on_answer(Answer.ACCEPTED, sent_at=0.0, now=1.0, probe=False)
    assert governor.in_flight_limit(16, 1.0) == INITIAL_WINDOW + 5
    governor.on_answer(Answer.REFUSED, sent_at=1.0, now=1.001, probe=False)
    assert governor.in_flight_limit(16, 1.001) == 16  # from now on, the rate governs


def test_the_open_window_doubles_no_faster_than_time_allows() -> None:
    # Over loopback answers come a millisecond apart: per answer alone, the window would be
    # at 16 before a burst of 40 ran out, and 16 requests in flight would be refused at once.
    governor = _governor()
    assert governor.in_flight_limit(16, 0.0) == INITIAL_WINDOW
    _send(governor, 0.0)  # the window's clock starts with the first turn
    for i in range(50):
        governor.on_answer(Answer.ACCEPTED, sent_at=i / 1000, now=(i + 1) / 1000, probe=False)
    assert governor.in_flight_limit(16, 0.05 * OPEN_DOUBLING) == INITIAL_WINDOW
    assert governor.in_flight_limit(16, OPEN_DOUBLING) == 2 * INITIAL_WINDOW
    assert governor.in_flight_limit(16, 2 * OPEN_DOUBLING) == 4 * INITIAL_WINDOW
    assert governor.in_flight_limit(16, 10 * OPEN_DOUBLING) == 16


# -- 503s: isolated or an outage ------------------------------------------------------------


def test_one_503_holds_nobody() -> None:
    governor = _governor(rate=10.0)
    governor.on_answer(Answer.UNAVAILABLE, sent_at=0.0, now=0.01, probe=False, retry_after=1.0)
    assert governor.hold is None
    assert governor.admit(0.02)[0] == 0.0


def test_503s_in_a_row_hold_the_session_with_one_probe_per_retry_after() -> None:
    governor = _governor(rate=10.0)
    for i in range(3):
        governor.on_answer(
            Answer.UNAVAILABLE, sent_at=i / 10, now=i / 10, probe=False, retry_after=2.0
        )
    assert governor.mode(0.2) is Mode.PROBING
    wait, probe = governor.admit(1.0)
    assert wait == pytest.approx(1.2)  # nothing before the 2 s
    assert not probe
    sent_at, probe = _send(governor, 2.2)
    assert probe
    assert governor.admit(2.3) == (math.inf, False)  # one probe at a time
    governor.on_answer(Answer.UNAVAILABLE, sent_at=sent_at, now=2.3, probe=True, retry_after=2.0)
    assert governor.admit(3.0)[0] == pytest.approx(1.3)  # next probe after its Retry-After
    sent_at, probe = _send(governor, 4.3)
    governor.on_answer(Answer.ACCEPTED, sent_at=sent_at, now=4.31, probe=True)
    assert governor.hold is None
    assert governor.rate == 10.0  # the rate that held before the outage


def test_most_answers_unavailable_is_an_outage_too() -> None:
    governor = _governor(rate=100.0)
    for i in range(8):
        answer = Answer.UNAVAILABLE if i % 4 else Answer.ACCEPTED
        governor.on_answer(answer, sent_at=i / 100, now=i / 100, probe=False)
    assert governor.mode(0.1) is Mode.PROBING


# -- 429s: a long Retry-After, a blocked window ------------------------------------------------


def test_a_long_retry_after_holds_exactly_that_long_then_resumes() -> None:
    governor = _governor(rate=10.0)
    governor.on_answer(
        Answer.REFUSED, sent_at=0.0, now=0.0, probe=False, retry_after=6.0, backlog=100
    )
    assert governor.mode(1.0) is Mode.HELD
    assert governor.admit(1.0)[0] == pytest.approx(5.0)
    wait, probe = governor.admit(6.0)
    assert not probe  # the server said when: no probing, the rate resumes
    assert wait <= 1 / 10.0 + 1e-9  # from a drained bucket: no burst after a hold
    assert governor.mode(6.0) is Mode.STEADY
    assert governor.held_seconds == pytest.approx(6.0)


def test_a_blocked_window_is_first_probed_at_the_earliest_retry_after_of_its_refusals() -> None:
    # Servers round Retry-After up to whole seconds: of the refusals that showed the window
    # full, the earliest "retry at" is the closest to its reopening.
    governor = _governor()
    for i in range(50):
        governor.on_answer(Answer.ACCEPTED, sent_at=i / 1000, now=0.05, probe=False)
    governor.on_answer(Answer.REFUSED, sent_at=0.05, now=0.06, probe=False, retry_after=3.0)
    governor.on_answer(Answer.REFUSED, sent_at=0.2, now=0.21, probe=False, retry_after=3.0)
    governor.on_answer(Answer.REFUSED, sent_at=0.3, now=0.31, probe=False, retry_after=3.0)
    governor.on_answer(Answer.REFUSED, sent_at=0.4, now=0.41, probe=False, retry_after=3.0)
    assert governor.mode(0.41) is Mode.PROBING
    wait, _ = governor.admit(0.41)
    assert wait == pytest.approx(3.06 - 0.41)  # not 3 s after the last refusal


def test_the_books_keep_a_windows_burst_through_the_cuts_before_it_is_recognised() -> None:
    # A window fills; its first refusals look like a rate a little too high and are cut
    # (open, slow start, steady) before nothing passing for 0.25 s shows it is full. Its
    # burst must still be in the books when it reopens, or the session floods it then.
    governor = _governor()
    for i in range(30):
        _send(governor, i / 1000)
    for i in range(30):
        governor.on_answer(Answer.ACCEPTED, sent_at=i / 1000, now=0.1 + i / 1000, probe=False)
    now = 0.2
    while governor.mode(now) is not Mode.PROBING:
        wait, _ = governor.admit(now)
        if wait == 0.0:  # sent, and refused: the window is full
            governor.on_answer(Answer.REFUSED, sent_at=now, now=now + 0.001, probe=False)
        now += 0.02
    assert governor.rate_cuts >= 2  # cut in slow start, and again once steady
    # (Answered 0.1 s after they left: the books count them from a margin before that.)
    assert list(governor._window_log) == [0.1 + i / 1000 - WINDOW_MARGIN for i in range(30)]


def test_a_blocked_window_is_probed_and_reopens_open() -> None:
    governor = _governor()
    for i in range(500):  # a window that took a whole burst at once
        governor.on_answer(Answer.ACCEPTED, sent_at=0.0, now=i / 10_000, probe=False)
    now = 0.05
    while governor.mode(now) is not Mode.PROBING:
        governor.on_answer(Answer.REFUSED, sent_at=now, now=now, probe=False)
        now += 0.02
    assert now <= BLOCKED_AFTER + 0.1
    sends = 0
    while now < 6.0:  # the window stays full until 6 s: probes, spaced out
        wait, probe = governor.admit(now)
        if wait == 0.0:
            assert probe
            sends += 1
            governor.on_answer(Answer.REFUSED, sent_at=now, now=now + 0.001, probe=True)
        now += 0.01
    assert sends <= 6.0 / 0.25
    while True:
        wait, probe = governor.admit(now)
        if wait == 0.0:
            break
        now += min(wait, 0.01)
    assert now < 6.0 + 0.5 + 0.02  # found within a probe interval of reopening
    governor.on_answer(Answer.ACCEPTED, sent_at=now, now=now + 0.001, probe=True)
    assert governor.rate is None  # back to open: the window takes a whole burst again
    # ... found as at first: a few requests in flight, then more.
    assert governor.in_flight_limit(16, now + 0.001) == INITIAL_WINDOW


def _run_window(
    governor: Governor,
    limit: RateLimit,
    until: float,
    *,
    latency: float = 0.001,
    in_flight: int = 1,
    first_late: float = 0.0,
) -> tuple[list[float], list[float]]:
    """A client that always has work, against `limit`, with up to `in_flight` requests out
    at once, each answered `latency` after it left (the server counts it halfway), in time
    order: the send times of the (accepted, refused) calls. The first call reaches the
    server `first_late` later (it opens a connection while an `asyncio.gather` of
    thousands starts) and is answered that much later."""
    server = limit.limiter()
    accepted: list[float] = []
    refused: list[float] = []
    # (answered at, order, sent at, probe, the turn's window test, accepted)
    answers: list[tuple[float, int, float, bool, object | None, bool]] = []
    order = itertools.count()
    now = 0.0
    while now < until:
        while answers and answers[0][0] <= now:
            at, _, sent_at, probe, test, ok = heapq.heappop(answers)
            answer = Answer.ACCEPTED if ok else Answer.REFUSED
            governor.on_answer(
                answer, sent_at=sent_at, now=at, probe=probe, window_test=test, backlog=1000
            )
        wait = math.inf
        if len(answers) < in_flight:
            wait, probe = governor.admit(now)
            if wait == 0.0:  # it leaves; more may leave at this same instant
                late = first_late if not accepted and not refused else 0.0
                ok = server.admit(now + late + latency / 2) is None
                (accepted if ok else refused).append(now)
                answered = now + late + latency
                sent = (answered, next(order), now, probe, governor.granted_test, ok)
                heapq.heappush(answers, sent)
                continue
        next_answer = answers[0][0] if answers else math.inf
        now = min(now + min(wait, 0.5), next_answer)
    return accepted, refused


def test_a_windows_length_and_calls_are_learned_and_kept_in_the_books() -> None:
    # Deep Security's limiter, unscaled: 500 calls in any 60 s, no Retry-After. The client
    # always has work; each turn the governor grants goes to the window at once.
    governor = _governor()
    limit = RateLimit.sliding_window(calls=500, seconds=60.0)
    accepted, refused = _run_window(governor, limit, 200.0)
    assert governor.window == pytest.approx(60.0, abs=2.0)  # learned from the first block
    assert governor.window_calls == 500
    first_block = [t for t in refused if t < 62.0]
    # Before it is known: refusals until blocked (0.25 s), then probes at a tenth of the
    # time held, or sooner at a whole second or two since the burst (about 70 in a minute;
    # at a steady 0.25 s it would be 240).
    assert len(first_block) <= 75
    later = [t for t in refused if t >= 62.0]
    assert len(later) <= 4  # the books: tests of the length (two) and of growth (one a minute)
    # Every window after the first is filled: 500 calls each time the books free up (the
    # learned length errs long by at most one probe interval: never early into a full one).
    assert sum(1 for t in accepted if t >= 62.0) >= 2 * 500


@given(
    since=st.floats(0.0, 1_000.0),
    held=st.floats(0.0, 3_600.0),
    wait=st.floats(PROBE_FIRST, PROBE_MAX),
)
def test_a_windows_probe_waits_no_longer_than_asked_and_lands_on_a_mark(
    since: float, held: float, wait: float
) -> None:
    now = since + held
    probe_wait = window_probe_wait(now, wait, since=since)
    assert 0.0 < probe_wait <= wait
    if probe_wait < wait:  # moved up to a whole grain since the burst, the first one ahead
        grain = max([g for g in WINDOW_GRAINS if g <= wait] or [WINDOW_GRAINS[0]])
        marks = (now + probe_wait - WINDOW_MARK_MARGIN - since) / grain
        assert marks == pytest.approx(round(marks), abs=1e-6)
        # ... and the first one ahead (one just passed, within the margin, still is).
        assert (round(marks) - 1) * grain + WINDOW_MARK_MARGIN <= held + 1e-6


@pytest.mark.parametrize("seconds", [1.0, 6.0, 60.0])
def test_a_window_of_whole_seconds_is_found_the_moment_it_reopens(seconds: float) -> None:
    # Limiters count windows in round seconds: the probe after each whole second (two, once
    # probes are two seconds apart) since the burst was first answered finds the reopening.
    governor = _governor()
    limit = RateLimit.sliding_window(calls=500, seconds=seconds)
    accepted, refused = _run_window(governor, limit, 2.5 * seconds)
    reopened = min(t for t in accepted if t > refused[0])
    assert seconds <= reopened <= seconds + 0.005  # the burst's first answer came at 1 ms
    assert governor.window == pytest.approx(seconds, abs=0.005)


@pytest.mark.parametrize("seconds", [0.7, 4.3, 6.55, 37.2])
def test_a_window_of_any_length_is_found_within_a_probe_interval(seconds: float) -> None:
    governor = _governor()
    limit = RateLimit.sliding_window(calls=500, seconds=seconds)
    accepted, refused = _run_window(governor, limit, 2.5 * seconds)
    reopened = min(t for t in accepted if t > refused[0])
    interval = min(PROBE_MAX, max(PROBE_FIRST, PROBE_SHARE * seconds))
    assert seconds <= reopened <= seconds + interval


@pytest.mark.parametrize(("rate", "burst"), [(1.0, 5), (2.0, 5), (2.0, 1), (5.0, 5)])
def test_a_slow_token_bucket_is_not_taken_for_a_window(rate: float, burst: int) -> None:
    # At 2/s a bucket refuses everything for up to half a second at a time, and its first
    # block and reopening look like a window of a second: books kept for such a window
    # send a pair at each reopening, one of them refused.
    governor = _governor()
    limit = RateLimit(rate=rate, burst=burst)
    accepted, refused = _run_window(governor, limit, 60.0, in_flight=16)
    assert governor.window is None
    assert governor.rate_control.mode is Mode.STEADY
    assert len(accepted) >= 0.9 * 60.0 * rate
    # Its start costs a few refusals; once its rate is learned, next to none.
    assert sum(1 for sent_at in refused if sent_at >= 10.0) <= 2


def test_nothing_accepted_for_a_few_intervals_of_a_slow_rate_is_no_block() -> None:
    for accepted_rate, blocked in ((40.0, True), (2.0, False)):
        governor = _governor()
        for i in range(int(accepted_rate)):
            when = i / accepted_rate
            governor.on_answer(Answer.ACCEPTED, sent_at=when, now=when + 0.001, probe=False)
        now = 1.0
        for _ in range(6):  # refused for half a second: two intervals at 2/s, 20 at 40/s
            governor.on_answer(Answer.REFUSED, sent_at=now, now=now + 0.001, probe=False)
            now += 0.1
        assert (governor.mode(now) is Mode.PROBING) is blocked, accepted_rate


def test_a_window_refused_with_half_its_room_unused_is_forgotten_for_a_rate() -> None:
    governor = _governor()
    governor.window, governor.window_floor, governor.window_calls = 1.0, 1.0, 6
    _send(governor, 0.0)
    sent_at, _ = _send(governor, 0.5)
    governor.on_answer(Answer.ACCEPTED, sent_at=0.0, now=0.001, probe=False)
    governor.on_answer(Answer.REFUSED, sent_at=sent_at, now=0.501, probe=False)
    assert governor.refused == 1  # counted once, though it is learned from as a rate
    assert governor.window is None
    assert governor.window_calls is None
    assert governor.rate_control.mode is Mode.LEARNING  # a rate, learned from the refusal
    # Blocked later on, the session holds and probes, but learns no window from it.
    now = 0.6
    while governor.mode(now) is not Mode.PROBING:
        governor.on_answer(Answer.REFUSED, sent_at=now, now=now + 0.001, probe=False)
        now += 0.1
    assert governor.hold is not None
    assert governor.hold.window_burst is None


def test_a_late_joiner_adopts_the_shared_rate_and_hold() -> None:
    governor = _governor()
    governor.adopt(12.0, Mode.STEADY, 10.0, hold_until=13.0)
    assert governor.rate == 12.0
    assert governor.mode(10.0) is Mode.HELD
    assert governor.admit(10.0) == (3.0, False)
    assert governor.mode(13.0) is Mode.STEADY
    # Then paced at the adopted rate (nothing saved up during the hold).
    wait, _ = governor.admit(13.0)
    assert wait == pytest.approx(1 / 12.0, rel=0.01)
    assert governor.admit(13.0 + wait) == (0.0, False)


def test_following_the_agreed_rate_keeps_the_ceiling_and_the_floor() -> None:
    configured = _governor(rate=20.0)
    configured.follow(50.0, 1.0)
    assert configured.rate == 20.0
    configured.follow(0.01, 2.0)
    assert configured.rate == MIN_RATE
    # An open session that hears of a rate the others agreed on takes it.
    open_session = _governor()
    open_session.follow(8.0, 1.0)
    assert open_session.rate == 8.0
    assert open_session.mode(1.0) is Mode.STEADY


def test_another_sessions_calls_fill_the_same_windows_books() -> None:
    governor = _learned_window(6.0, floor=6.0, calls=3)
    governor.on_answer(Answer.ACCEPTED, sent_at=0.0, now=0.01, probe=False)
    governor.on_answer(Answer.ACCEPTED, sent_at=0.3, now=0.31, probe=False, ours=False)
    governor.on_answer(Answer.ACCEPTED, sent_at=0.1, now=0.32, probe=False, ours=False)
    assert list(governor._window_log) == [0.1, 0.3]  # ours are booked when granted
    assert governor.admit(1.0) == (0.0, False)  # two in the books: room for a third
    wait, _ = governor.admit(1.0)
    assert wait == pytest.approx(0.1 + governor._books_span() - 1.0)  # until 0.1 ages out


def test_a_windows_length_learned_long_is_refined_down_one_test_a_window() -> None:
    # 50 calls in any 6 s, no Retry-After: the first block's probes learn the length up
    # to their spacing; each later window lets one call out early, halving what is unknown.
    governor = _governor()
    accepted, refused = _run_window(governor, RateLimit.sliding_window(calls=50, seconds=6.0), 60.0)
    assert governor.window is not None
    assert 6.0 <= governor.window <= 6.0 + 0.06  # within the books' own margin
    assert governor.window_floor <= 6.0
    assert governor.window_calls == 50
    # After the first block, at most one refusal a window (the tests, while the length
    # is not known, and one growth test a minute).
    later = [t for t in refused if t >= 6.5]
    assert len(later) <= 60.0 / 6.0
    # The later windows are filled as soon as they reopen: nine more within 60 s.
    assert len(accepted) >= 10 * 50


def test_a_windows_first_call_that_reached_it_late_is_timed_from_its_answer() -> None:
    # The first call reached the server 0.15 s after its turn, so the window reopened 0.15 s
    # late: the probes' marks count from its answer, the length learned from its turn is
    # refined down, and what the refused probes say counts from its answer.
    governor = _governor()
    limit = RateLimit.sliding_window(calls=500, seconds=6.0)
    accepted, _ = _run_window(governor, limit, 40.0, first_late=0.15)
    assert governor.window_floor <= 6.0  # a lower bound, whatever the call's lag
    assert governor.window is not None
    assert 6.0 <= governor.window <= 6.0 + 0.06  # within the books' own margin
    # Each window after the first two reopens within the books' margin of the one before.
    starts = [t for before, t in itertools.pairwise([0.0, *accepted]) if t - before > 1.0]
    assert len(starts) >= 5
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert all(gap <= 6.0 + 0.06 + 0.02 + 0.01 for gap in gaps[1:]), gaps


def test_a_call_answered_late_leaves_the_books_a_window_after_its_answer() -> None:
    # The books count from when a call left, a margin more than the window: a call that
    # reached the server later than that (a busy event loop held it) counts until the
    # window's length after its answer.
    governor = _learned_window(6.0, floor=6.0, calls=1)
    _send(governor, 0.0)
    governor.on_answer(Answer.ACCEPTED, sent_at=0.0, now=0.2, probe=False)
    span = governor._books_span()
    wait, _ = governor.admit(6.1)  # past the margin after it left: not yet
    assert wait == pytest.approx(0.2 + 6.0 - 6.1)
    sent_at, _ = _send(governor, 0.2 + 6.0)
    # One answered within the margin is counted from when it left.
    governor.on_answer(Answer.ACCEPTED, sent_at=sent_at, now=sent_at + 0.01, probe=False)
    wait, _ = governor.admit(12.0)
    assert wait == pytest.approx(sent_at + span - 12.0)


def test_calls_answered_late_keep_the_books_in_order() -> None:
    # Counted from their answers, calls can overtake calls that left after them: the books
    # stay sorted, so the oldest they count is the first to age out.
    governor = _learned_window(1.0, floor=1.0, calls=2)
    _send(governor, 0.0)
    governor.on_answer(Answer.ACCEPTED, sent_at=0.0, now=0.25, probe=False)
    governor.on_answer(Answer.ACCEPTED, sent_at=0.005, now=0.006, probe=False, ours=False)
    governor.on_answer(Answer.ACCEPTED, sent_at=0.9, now=0.901, probe=False, ours=False)
    span = governor._books_span()
    assert list(governor._window_log) == pytest.approx([0.005, 0.25 + 1.0 - span, 0.9])
    wait, _ = governor.admit(1.04)  # the first aged out; the late one has not
    assert wait == pytest.approx(0.25 + 1.0 - 1.04)


def test_a_refused_test_raises_the_floor_by_what_surely_passed() -> None:
    # The oldest call was answered 0.15 s after it left, the test 1 ms after: refused when
    # the oldest was 6.001 s old, it says only that the window is longer than 5.852 s.
    governor = _learned_window(6.2, floor=5.5, calls=1)
    _send(governor, 0.0)
    governor.on_answer(Answer.ACCEPTED, sent_at=0.0, now=0.15, probe=False)
    wait, _ = governor.admit(5.0)
    assert wait == pytest.approx(1.001)  # the test waits for the one whole second between
    sent_at, _ = _send(governor, 6.001)
    test = governor.granted_test
    assert test is not None
    governor.on_answer(Answer.REFUSED, sent_at=sent_at, now=6.002, probe=False, window_test=test)
    assert governor.window_floor == pytest.approx(6.001 - (0.15 - 0.001))


def test_a_window_over_a_long_round_trip_is_tested_until_known() -> None:
    # Over 50 ms every answer comes late, and the books count every call from its answer:
    # the length is still known within the books' margin after a few tests, and then
    # no more length tests are refused.
    governor = _governor()
    limit = RateLimit.sliding_window(calls=50, seconds=1.0)
    accepted, refused = _run_window(governor, limit, 30.0, latency=0.05, in_flight=64)
    assert governor.window is not None
    assert governor.window_floor <= 1.0 <= governor.window
    assert governor.window - governor.window_floor <= governor._window_precision()
    later = [t for t in refused if t >= 10.0]
    assert len(later) <= 1  # a growth test a minute at most
    assert len(accepted) >= 25 * 50
    # Every call was moved, and what moved them leaves the books with them.
    assert 0 < len(governor._window_moved) <= len(governor._window_log)


@given(floor=st.floats(0.0, 100.0), gap=st.floats(0.001, 10.0))
def test_a_windows_test_is_of_a_length_between_its_bounds(floor: float, gap: float) -> None:
    longest = floor + gap
    length = window_length_to_test(floor, longest)
    assert floor < length < longest
    wholes = [n for n in range(math.floor(floor), math.ceil(longest) + 1) if floor < n < longest]
    if len(wholes) == 1 and wholes[0] + WINDOW_MARK_MARGIN < longest:
        assert length == wholes[0] + WINDOW_MARK_MARGIN  # limiters count in round seconds
    else:
        assert length == pytest.approx((floor + longest) / 2.0)


def test_the_books_never_hold_more_than_the_window_takes_and_one_test() -> None:
    # Calls that age out of the books at the same instant (sent together, on a clock
    # whose sums round) never let the books run over.
    governor = _learned_window(6.007, floor=5.0, calls=50)
    for _ in range(50):
        _send(governor, 0.002)
    now = 0.002
    sent_after = 0
    while now < 6.2:
        wait, _ = governor.admit(now)
        if wait == 0.0:
            sent_after += 1
            assert len(governor._window_log) <= 50 + 1
        else:
            now += wait
    assert sent_after <= 50 + 1  # the 50 aged out, and at most one test went early


def test_a_refusal_during_a_hold_is_struck_out_of_the_books() -> None:
    governor = _governor()
    for i in range(20):
        _send(governor, i / 1000)
    for i in range(10):
        governor.on_answer(Answer.ACCEPTED, sent_at=i / 1000, now=0.02, probe=False)
    governor.on_answer(Answer.REFUSED, sent_at=0.010, now=0.021, probe=False, retry_after=6.0)
    assert governor.mode(0.021) is Mode.HELD
    for i in range(11, 20):  # in flight when the hold began
        sent_at = i / 1000
        governor.on_answer(Answer.REFUSED, sent_at=sent_at, now=0.022, probe=False, retry_after=6.0)
    assert len(governor._window_log) == 10  # only the accepted calls count in the window
    # The server's Retry-After bounds the length from below (rounded to whole seconds).
    wait, _ = governor.admit(6.022)  # the hold ends; the books keep the burst a margin more
    assert wait == pytest.approx(governor._books_span() - 6.022)
    assert governor.window == pytest.approx(6.022)
    # (From when the last refused call left, its Retry-After counting from its arrival, to
    # when the burst's first call was answered: it reached the server before then.)
    assert governor.window_floor == pytest.approx(0.019 + 6.0 - 1.0 - 0.02)
    assert governor.window_calls == 10


def test_a_probe_that_finds_a_window_open_is_in_its_books() -> None:
    governor = _governor()
    _run_window(governor, RateLimit.sliding_window(calls=20, seconds=3.0), 3.5)
    assert governor.window is not None
    probe_and_after = [t for t in governor._window_log if t >= 3.0]
    assert len(probe_and_after) == 20  # the probe, then as many as the window has room for


def test_a_window_that_grew_is_noticed_within_a_growth_test_interval() -> None:
    governor = _governor()
    governor.window, governor.window_floor, governor.window_calls = 6.0, 6.0, 40
    governor._next_growth_test = 0.0
    _, refused = _run_window(
        governor, RateLimit.sliding_window(calls=50, seconds=6.0), 6.0 + WINDOW_GROWTH_EVERY * 2
    )
    # One test found room, and the tests that followed at once, a call each, found the
    # rest; then one refused test a minute (the window has stopped growing).
    assert governor.window_calls == 50
    assert len(refused) <= 1 + (6.0 + WINDOW_GROWTH_EVERY * 2) / WINDOW_GROWTH_EVERY


def test_a_window_over_a_long_round_trip_with_calls_leaving_together() -> None:
    # 16 in flight, 100 ms away: calls leave at the same instant as a window's test, and
    # their answers come back together. Each test is told apart by its turn, not its time.
    governor = _governor()
    limit = RateLimit.sliding_window(calls=50, seconds=5.8)
    accepted, refused = _run_window(governor, limit, 60.0, latency=0.1, in_flight=16)
    assert governor.window is not None
    assert 5.8 <= governor.window <= 5.8 + 0.1 + 0.06  # the round trip, then the margin
    assert governor.window_calls == 50
    later = [t for t in refused if t >= 6.5]
    assert len(later) <= 60.0 / 5.8  # at most one test a window
    assert len(accepted) >= 9 * 50


def test_a_test_call_is_over_whatever_its_answer() -> None:
    # A 503, no answer at all, or a refusal during a hold: the test ends, and another goes.
    for answer in (Answer.UNAVAILABLE, Answer.NOTHING, Answer.REFUSED):
        governor = _learned_window(6.0, floor=0.0, calls=2)
        _send(governor, 0.0)
        _send(governor, 0.0)
        sent_at, _ = _send(governor, 3.0)  # the length test, at half the unknown length
        test = governor.granted_test
        assert test is not None
        if answer is Answer.REFUSED:
            governor._start_hold(3.0, 13.0, probing=False)  # say, another session's hold
            assert governor.mode(3.0) is Mode.HELD
        governor.on_answer(answer, sent_at=sent_at, now=3.1, probe=False, window_test=test)
        assert governor._window_test is None, answer


def test_a_test_the_rate_does_not_let_out_is_not_a_test() -> None:
    governor = _governor(rate=0.1)
    governor.rate_control.mode = Mode.LEARNING  # a window's books, and a rate, at once
    governor.window, governor.window_floor, governor.window_calls = 6.0, 0.0, 1
    governor._next_growth_test = math.inf
    _send(governor, 0.0)
    wait, _ = governor.admit(3.0)  # the books would let the test out; the rate does not
    assert wait > 0.0
    assert governor._window_test is None
    assert governor.granted_test is None


def test_the_time_a_test_is_due_never_rounds_into_a_free_turn() -> None:
    # The throttle sleeps exactly the wait it is given; at that instant a test goes, or
    # nothing: never a turn past the books' count with no test.
    t0, window, floor = 58.33820394550312, 54.578660226524775, 40.7864450012431
    governor = _learned_window(window, floor=floor, calls=50)
    for _ in range(50):
        _send(governor, t0)
    now = t0 + 1.0
    now += governor.admit(now)[0]
    granted = 0
    while governor.admit(now)[0] == 0.0 and granted < 100:
        granted += 1
    assert granted <= 1
    assert granted == 0 or governor._window_test is not None


def test_a_call_booked_later_by_a_shared_throttle_is_struck_out_when_refused() -> None:
    governor = _governor()
    _send(governor, 1.0)
    governor.rebook(1.0, 1.2)  # it waited for the shared schedule, then left
    assert list(governor._window_log) == [1.2]
    governor.on_answer(Answer.REFUSED, sent_at=1.2, now=1.3, probe=False)
    assert list(governor._window_log) == []


def test_a_window_shared_with_others_is_tested_for_growth_every_window() -> None:
    governor = _learned_window(6.0, floor=6.0, calls=3)
    _send(governor, 0.0)
    _send(governor, 0.1)
    _send(governor, 0.2)
    # Refused with room in the books: others take part of the window.
    governor.on_answer(Answer.REFUSED, sent_at=0.2, now=0.21, probe=False)
    assert governor.window_calls == 2
    now = 6.3  # the two have aged out of the books: two more, then the growth test
    _send(governor, now)
    _send(governor, now)
    sent_at, _ = _send(governor, now)
    test = governor.granted_test
    assert test is not None
    governor.on_answer(Answer.REFUSED, sent_at=sent_at, now=6.31, probe=False, window_test=test)
    assert governor._next_growth_test == pytest.approx(now + 6.0)  # a window, not a minute
    assert governor.window_calls == 2  # a refused test says only that it did not grow


def test_a_test_call_booked_later_tests_the_age_it_left_at() -> None:
    governor = _learned_window(6.0, floor=0.0, calls=1)
    _send(governor, 0.0)
    sent_at, _ = _send(governor, 3.0)  # the length test, at half the unknown length
    test = governor.granted_test
    governor.rebook(sent_at, 4.0, test)  # the shared schedule held it a second
    governor.on_answer(Answer.ACCEPTED, sent_at=4.0, now=4.1, probe=False, window_test=test)
    assert governor.window == pytest.approx(4.0)  # the oldest was 4 s old when it left


def test_full_books_take_another_sessions_call_in_order() -> None:
    governor = _governor()
    for i in range(10_000):
        _send(governor, i / 1000)
    governor.on_answer(Answer.ACCEPTED, sent_at=5.0005, now=10.0, probe=False, ours=False)
    log = governor._window_log
    assert len(log) == 10_000
    assert log[0] == 0.001  # the oldest made room
    assert list(log) == sorted(log)


def test_the_wait_estimate_counts_a_full_learned_window() -> None:
    # A fail-fast call is refused at once, with the real wait, when the learned window
    # has no room before its deadline (it used to be told it could leave at once).
    governor = _learned_window(60.0, floor=60.0, calls=3)
    for sent_at in (0.0, 0.1, 0.2):
        _send(governor, sent_at)
        governor.on_answer(Answer.ACCEPTED, sent_at=sent_at, now=sent_at + 0.001, probe=False)
    wait, _ = governor.admit(1.0)
    assert wait > 58.0
    assert governor.wait_estimate(1.0, ahead=0) == pytest.approx(wait)
    # Two more ahead: the third call of the books must age out first.
    assert governor.wait_estimate(1.0, ahead=2) == pytest.approx(wait + 0.2)
    # Beyond the books: the fourth waits for the first of those three to age out.
    assert governor.wait_estimate(1.0, ahead=3) == pytest.approx(2 * wait + 1.0)


def test_the_wait_estimate_counts_tokens_saved_since_the_last_turn() -> None:
    # At 1/s, the last turn 5 s ago: a token is saved, and the next call may leave at once.
    governor = _governor(rate=1.0)
    _send(governor, 0.0)
    assert governor.wait_estimate(5.0, ahead=0) == 0.0
