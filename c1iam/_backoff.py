"""The retry policy and the backoff formula (pure: no clock, no I/O).

`retry_delay` answers one question: after this failure of this request, wait how long
and send it again, or give up? The caller owns the clock and the sleeping.
"""

from __future__ import annotations

import math
import random
from typing import Any

import attrs

from ._arguments import check_positive_int
from ._errors import (
    C1IAMError,
    InvalidArgument,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    TransportError,
)

__all__ = ["RetryPolicy", "exponential_backoff", "retry_delay"]


def _check_positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise InvalidArgument(f"RetryPolicy.{attribute.name} must be positive, got {value!r}")


def _check_positive_or_none(
    instance: object, attribute: attrs.Attribute[Any], value: float | None
) -> None:
    if value is not None:
        _check_positive(instance, attribute, value)


def _check_attempts(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    check_positive_int("RetryPolicy.attempts", value)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how a session retries a failed request.

    - `attempts` (5): tries per request, the first included; 1 disables retries.
    - `deadline` (120 s): no retry starts later than this after the first try; `None`: no limit.
    - `backoff_base` (0.5 s), `backoff_max` (30 s): the exponential wait with full jitter used
      when the server gave no `Retry-After`: uniform in [0, min(max, base * 2**retry)].
    - `max_wait` (300 s): the longest `Retry-After` honoured; a longer one is raised at once,
      with its `retry_after`, rather than sleeping for it.
    - `pause_threshold` (5 s): a `Retry-After` this long or longer, or any 503, holds every new
      request of the session until then (see `Throttle`).
    - `retry_statuses` (500, 502, 504): 5xx statuses retried for requests that are safe to repeat
      (reads, modifies, deletes). 429 and 503 are always retried: the server did not process them.
    - `retry_transport_errors` (True): retry connection errors and timeouts of requests that are
      safe to repeat. A create is only re-sent if the connection was never made.
    - `fail_fast` (False): for web backends, raise `RateLimited` / `ServiceUnavailable` at once,
      with the wait the server asked for, instead of sleeping.
    """

    attempts: int = attrs.field(default=5, validator=_check_attempts)
    deadline: float | None = attrs.field(default=120.0, validator=_check_positive_or_none)
    backoff_base: float = attrs.field(default=0.5, validator=_check_positive)
    backoff_max: float = attrs.field(default=30.0, validator=_check_positive)
    max_wait: float = attrs.field(default=300.0, validator=_check_positive)
    pause_threshold: float = attrs.field(default=5.0, validator=_check_positive)
    retry_statuses: frozenset[int] = attrs.field(
        default=frozenset({500, 502, 504}), converter=frozenset
    )
    retry_transport_errors: bool = True
    fail_fast: bool = False


def exponential_backoff(policy: RetryPolicy, retry_number: int, rng: random.Random) -> float:
    """Full-jitter exponential backoff (the AWS architecture blog's "full jitter").

    `retry_number` counts from 0 for the first retry.
    """
    ceiling = min(policy.backoff_max, policy.backoff_base * 2.0 ** min(retry_number, 62))
    return rng.uniform(0.0, ceiling)


def retry_delay(
    policy: RetryPolicy,
    error: C1IAMError,
    *,
    attempt: int,
    idempotent: bool,
    elapsed: float,
    rng: random.Random,
) -> float | None:
    """Seconds to wait before sending the request again, or `None` to raise `error`.

    `attempt` is the number of the attempt that just failed (1 for the first),
    `elapsed` the seconds since the first attempt started.
    """
    if attempt >= policy.attempts:
        return None
    if isinstance(error, RateLimited | ServiceUnavailable):
        # The server did not process the request: safe to repeat, a create included.
        if policy.fail_fast:
            return None
        if error.retry_after is not None:
            if error.retry_after > policy.max_wait:
                return None
            delay = error.retry_after
        else:
            delay = exponential_backoff(policy, attempt - 1, rng)
    elif isinstance(error, ServerError):
        if not idempotent or error.status not in policy.retry_statuses:
            return None
        delay = (
            error.retry_after
            if error.retry_after is not None and error.retry_after <= policy.max_wait
            else exponential_backoff(policy, attempt - 1, rng)
        )
    elif isinstance(error, TransportError):
        if not policy.retry_transport_errors:
            return None
        # A create whose connection was made may have been processed: never send it twice.
        if not idempotent and error.request_may_have_been_sent:
            return None
        delay = exponential_backoff(policy, attempt - 1, rng)
    else:
        return None
    if policy.deadline is not None and elapsed + delay > policy.deadline:
        return None
    return delay
