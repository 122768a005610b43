"""The retry policy and backoff formula: which failures are retried, after how long."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

import c1iam
from c1iam._backoff import exponential_backoff, retry_delay


def rate_limited(retry_after: float | None = None) -> c1iam.RateLimited:
    return c1iam.RateLimited("slow down", status=429, retry_after=retry_after)


def server_error(status: int = 500) -> c1iam.ServerError:
    return c1iam.ServerError("oops", status=status)


@given(retry=st.integers(0, 100), seed=st.integers())
def test_backoff_is_full_jitter_under_its_ceiling(retry: int, seed: int) -> None:
    policy = c1iam.RetryPolicy(backoff_base=0.5, backoff_max=30.0)
    delay = exponential_backoff(policy, retry, random.Random(seed))
    assert 0.0 <= delay <= min(30.0, 0.5 * 2**retry)


def test_retry_after_is_honoured_exactly() -> None:
    delay = retry_delay(
        c1iam.RetryPolicy(),
        rate_limited(retry_after=12.0),
        attempt=1,
        idempotent=True,
        elapsed=0.0,
        rng=random.Random(1),
    )
    assert delay == 12.0


@given(
    error=st.sampled_from(
        [
            rate_limited(),
            rate_limited(3.0),
            c1iam.ServiceUnavailable("m", status=503),
            server_error(),
            c1iam.TransportError("reset"),
        ]
    ),
    attempt=st.integers(1, 10),
    idempotent=st.booleans(),
    elapsed=st.floats(0, 200),
)
def test_no_retry_starts_after_the_deadline_or_the_last_attempt(
    error: c1iam.C1IAMError, attempt: int, idempotent: bool, elapsed: float
) -> None:
    policy = c1iam.RetryPolicy(attempts=5, deadline=60.0)
    delay = retry_delay(
        policy, error, attempt=attempt, idempotent=idempotent, elapsed=elapsed, rng=random.Random(0)
    )
    if delay is not None:
        assert elapsed + delay <= 60.0
        assert attempt < 5


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (rate_limited(1.0), True),
        (c1iam.ServiceUnavailable("m", status=503, retry_after=1.0), True),
        (server_error(500), False),
        (c1iam.TransportError("timeout"), False),
        (c1iam.TransportError("refused", request_may_have_been_sent=False), True),
        (c1iam.BadRequest("no", status=400), False),
    ],
)
def test_a_create_is_retried_only_when_the_server_cannot_have_processed_it(
    error: c1iam.C1IAMError, retried: bool
) -> None:
    delay = retry_delay(
        c1iam.RetryPolicy(), error, attempt=1, idempotent=False, elapsed=0.0, rng=random.Random(0)
    )
    assert (delay is not None) is retried


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (server_error(500), True),
        (server_error(502), True),
        (server_error(501), False),
        (c1iam.TransportError("reset"), True),
        (c1iam.NotFound("gone", status=404), False),
        (c1iam.ProtocolError("bad json"), False),
    ],
)
def test_reads_are_retried_on_transient_failures(error: c1iam.C1IAMError, retried: bool) -> None:
    delay = retry_delay(
        c1iam.RetryPolicy(), error, attempt=1, idempotent=True, elapsed=0.0, rng=random.Random(0)
    )
    assert (delay is not None) is retried


def test_a_retry_after_beyond_max_wait_is_not_slept() -> None:
    policy = c1iam.RetryPolicy(max_wait=60.0)
    assert (
        retry_delay(
            policy,
            rate_limited(3600.0),
            attempt=1,
            idempotent=True,
            elapsed=0,
            rng=random.Random(0),
        )
        is None
    )


def test_fail_fast_never_waits_for_a_429() -> None:
    policy = c1iam.RetryPolicy(fail_fast=True)
    assert (
        retry_delay(
            policy, rate_limited(1.0), attempt=1, idempotent=True, elapsed=0, rng=random.Random(0)
        )
        is None
    )


@pytest.mark.parametrize(
    "options",
    [
        {"attempts": 0},
        {"attempts": True},
        {"deadline": -1.0},
        {"backoff_base": 0},
        {"max_wait": float("inf")},
    ],
)
def test_bad_policies_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="RetryPolicy"):
        c1iam.RetryPolicy(**options)  # type: ignore[arg-type]
