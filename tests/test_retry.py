"""The one decision after a failure (pure): retry when, what the session learns, bounds."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import c1iam
from c1iam._control import Answer
from c1iam._retry import Decision, RetryPolicy, decide, exponential_backoff


def _error(status: int, retry_after: float | None = None) -> c1iam.APIError:
    error_class = {429: c1iam.RateLimited, 503: c1iam.ServiceUnavailable}.get(
        status, c1iam.ServerError if status >= 500 else c1iam.APIError
    )
    return error_class("scripted", status=status, retry_after=retry_after)


def _decide(failure: c1iam.C1IAMError, policy: RetryPolicy | None = None, **kw: Any) -> Decision:
    options: dict[str, Any] = {"attempts": 0, "retries": 0, "own_time": 0.0, "idempotent": True}
    options.update(kw)
    return decide(policy or RetryPolicy(), failure, rng=random.Random(1), **options)


@given(retry=st.integers(0, 100), seed=st.integers(0, 2**32))
def test_backoff_is_full_jitter_under_its_ceiling(retry: int, seed: int) -> None:
    policy = RetryPolicy()
    delay = exponential_backoff(policy, retry, random.Random(seed))
    assert 0.0 <= delay <= min(policy.backoff_max, policy.backoff_base * 2**retry)


def test_a_429_is_retried_after_its_retry_after_and_cuts_the_rate() -> None:
    decision = _decide(_error(429, retry_after=2.0))
    assert decision == Decision(2.0, Answer.REFUSED, 2.0, attempt=False)


def test_429s_are_bounded_by_the_deadline_not_by_attempts() -> None:
    policy = RetryPolicy(attempts=1, deadline=10.0)
    assert _decide(_error(429, 2.0), policy, attempts=50, retries=50).retry_in == 2.0
    assert _decide(_error(429, 2.0), policy, own_time=8.5).retry_in is None


@given(retries=st.integers(0, 60))
def test_a_429_without_retry_after_waits_briefly_whatever_its_retries(retries: int) -> None:
    policy = RetryPolicy()
    wait = _decide(_error(429), policy, retries=retries).retry_in
    assert wait is not None
    assert 0.0 <= wait <= 4 * policy.backoff_base


def test_a_retry_after_beyond_max_wait_fails_its_call_and_tells_the_session_nothing() -> None:
    for status in (429, 503):
        decision = _decide(_error(status, retry_after=301.0))
        assert decision == Decision(None, Answer.NOTHING)


def test_fail_fast_raises_429_and_503_at_once_but_the_session_still_learns() -> None:
    policy = RetryPolicy(fail_fast=True)
    assert _decide(_error(429, 3.0), policy) == Decision(None, Answer.REFUSED, 3.0, False)
    assert _decide(_error(503, 3.0), policy).answer is Answer.UNAVAILABLE
    assert _decide(_error(503, 3.0), policy).retry_in is None


def test_a_503_is_an_attempt_unless_it_answered_the_sessions_probe() -> None:
    policy = RetryPolicy(attempts=2)
    assert _decide(_error(503, 1.0), policy, attempts=0).retry_in == 1.0
    assert _decide(_error(503, 1.0), policy, attempts=1).retry_in is None
    probe = _decide(_error(503, 1.0), policy, attempts=1, probe=True)
    # The probe's wait is the session's hold; its failure costs it no attempt.
    assert probe == Decision(0.0, Answer.UNAVAILABLE, 1.0, attempt=False)


@pytest.mark.parametrize(
    ("failure", "idempotent", "retried"),
    [
        (c1iam.TransportError("reset"), True, True),
        (c1iam.TransportError("reset"), False, False),  # a create may have been processed
        (c1iam.TransportError("refused", request_may_have_been_sent=False), False, True),
        (_error(500), True, True),
        (_error(500), False, False),
        (_error(501), True, False),  # not in retry_statuses
        (_error(429), False, True),  # not processed: a create may be re-sent
        (_error(503), False, True),
        (_error(400), True, False),
        (c1iam.ProtocolError("junk"), True, False),
    ],
)
def test_what_is_retried(failure: c1iam.C1IAMError, idempotent: bool, retried: bool) -> None:
    assert (_decide(failure, idempotent=idempotent).retry_in is not None) is retried


def test_what_each_failure_tells_the_session() -> None:
    assert _decide(_error(429)).answer is Answer.REFUSED
    assert _decide(_error(503)).answer is Answer.UNAVAILABLE
    assert _decide(_error(500)).answer is Answer.ACCEPTED  # processed, not refused for rate
    assert _decide(c1iam.TransportError("reset")).answer is Answer.NOTHING


@pytest.mark.parametrize(
    "options",
    [
        {"attempts": 0},
        {"attempts": True},
        {"deadline": 0},
        {"deadline": True},
        {"backoff_base": -1},
        {"max_wait": float("nan")},
        {"fail_fast": "yes"},
    ],
)
def test_bad_policies_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(c1iam.InvalidArgument):
        RetryPolicy(**options)


def test_fail_fast_never_sleeps_for_a_retry() -> None:
    policy = RetryPolicy(fail_fast=True)
    assert _decide(_error(500), policy).retry_in == 0.0
    assert _decide(c1iam.TransportError("reset"), policy).retry_in == 0.0
    assert _decide(_error(500), policy, attempts=4).retry_in is None  # attempts still count
