"""What one failure means: retry when, and what it tells the session (pure).

The request path (`Session._request`) is: a call waits for its turn in the throttle,
the transport sends it, `_sansio` reads the answer, and on a failure `decide` answers
everything at once, in one place:

- **for the call**: retry after how long, or raise now. A 429 or a 503 means the server
  did not process the request, so it is safe to repeat, a create included; other 5xx
  and transport errors are retried only for requests that are safe to repeat.
- **for the session**: what the answer says about the service (`Answer`): a 429 is a
  refusal (the shared rate is cut; a long `Retry-After` holds every request), a 503 is
  unavailability (an outage when it persists). The throttle's `Governor` acts on it.
- **bounds**: a `Retry-After` longer than `max_wait` fails its own call and tells the
  session nothing, so a hostile value neither pauses nor slows the rest; `attempts`
  counts real failures only (5xx and transport errors), while refusals (429) are bounded
  by the deadline alone; the deadline counts the call's own time (sending, and waiting
  to retry, a probe's wait for the session's next probe included), not time queued for
  a turn: a bulk job queues by design. With `fail_fast`
  nothing sleeps for a retry and the deadline bounds the whole call, queueing included.
"""

from __future__ import annotations

import random
from typing import Final

import attrs

from ._arguments import (
    check_flag,
    check_positive_int,
    check_positive_number,
    validator,
)
from ._control import Answer
from ._errors import (
    APIError,
    C1IAMError,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    TransportError,
)

__all__ = ["Decision", "RetryPolicy", "decide", "exponential_backoff"]

# A 429 without `Retry-After` backs off exponentially for this many retries, then no longer.
REFUSED_BACKOFF_STEPS: Final = 2


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """When and how a session retries a failed request.

    - `attempts` (5): tries per request counting real failures only (5xx, transport
      errors); 1 disables those retries. A 429 is not an attempt: it is retried while the
      deadline allows.
    - `deadline` (120 s): no retry starts later than this into the call's own time
      (sending and waiting to retry, a probe's wait for the next probe included; time
      queued for a turn does not count, a bulk job queues by design); `None`: no limit.
      With `fail_fast` it bounds the whole call, queueing included: a call that cannot
      be sent in time raises `RateLimited` unsent.
    - `backoff_base` (0.5 s), `backoff_max` (30 s): the exponential wait with full jitter used
      when the server gave no `Retry-After`: uniform in [0, min(max, base * 2**retry)]; for a
      429, at most `4 * base` (the session's throttle paces every call after a 429).
    - `max_wait` (300 s): the longest `Retry-After` honoured; a longer one fails its own call
      at once, with its `retry_after`, and neither pauses nor slows the rest of the session.
    - `pause_threshold` (5 s): a 429 whose `Retry-After` is this long or longer holds every
      new request of the session until then.
    - `retry_statuses` (500, 502, 504): 5xx statuses retried for requests that are safe to repeat
      (reads, modifies, deletes). 429 and 503 are always retried: the server did not process them.
    - `retry_transport_errors` (True): retry connection errors and timeouts of requests that are
      safe to repeat. A create is only re-sent if the connection was never made.
    - `fail_fast` (False): for web backends: nothing sleeps for a retry; a 429 or 503 raises at
      once with the wait the server asked for, and `deadline` bounds the whole call.
    """

    attempts: int = attrs.field(default=5, validator=validator(check_positive_int))
    deadline: float | None = attrs.field(
        default=120.0, validator=validator(check_positive_number, or_none=True)
    )
    backoff_base: float = attrs.field(default=0.5, validator=validator(check_positive_number))
    backoff_max: float = attrs.field(default=30.0, validator=validator(check_positive_number))
    max_wait: float = attrs.field(default=300.0, validator=validator(check_positive_number))
    pause_threshold: float = attrs.field(default=5.0, validator=validator(check_positive_number))
    retry_statuses: frozenset[int] = attrs.field(
        default=frozenset({500, 502, 504}), converter=frozenset
    )
    retry_transport_errors: bool = attrs.field(default=True, validator=validator(check_flag))
    fail_fast: bool = attrs.field(default=False, validator=validator(check_flag))


@attrs.frozen
class Decision:
    """What to do after one failure.

    - `retry_in`: seconds to wait before sending again, or `None` to raise the failure.
    - `answer`: what the failure tells the session (for the throttle's `Governor`).
    - `retry_after`: the server's `Retry-After` as the session should take it (`None`
      when absent or beyond `max_wait`).
    - `attempt`: whether it counts against `RetryPolicy.attempts`.
    """

    retry_in: float | None
    answer: Answer
    retry_after: float | None = None
    attempt: bool = True


def exponential_backoff(policy: RetryPolicy, retry_number: int, rng: random.Random) -> float:
    """Full-jitter exponential backoff (the AWS architecture blog's "full jitter").

    `retry_number` counts from 0 for the first retry.
    """
    ceiling = min(policy.backoff_max, policy.backoff_base * 2.0 ** min(retry_number, 62))
    return rng.uniform(0.0, ceiling)


def decide(
    policy: RetryPolicy,
    failure: C1IAMError,
    *,
    attempts: int,
    retries: int,
    own_time: float,
    idempotent: bool,
    probe: bool = False,
    rng: random.Random,
) -> Decision:
    """The one decision after a failure (see the module docstring).

    `attempts`: real failures so far, this one excluded; `retries`: retries so far, of any
    kind (for the backoff's growth); `own_time`: the call's own seconds so far (see
    `RetryPolicy.deadline`); `probe`: the request was the session's probe of an outage or
    a full window (its failure is the session's, not the call's: it costs no attempt, and
    the session's hold is its wait).
    """
    retry_after = failure.retry_after if isinstance(failure, APIError) else None
    if retry_after is not None and retry_after > policy.max_wait:
        # Hostile or absurd: this call fails, the rest of the session is not told.
        return Decision(None, Answer.NOTHING)
    if isinstance(failure, RateLimited):
        answer, counts = Answer.REFUSED, False
    elif isinstance(failure, ServiceUnavailable):
        answer, counts = Answer.UNAVAILABLE, not probe
    elif isinstance(failure, APIError):
        answer, counts = Answer.ACCEPTED, True
    else:
        answer, counts = Answer.NOTHING, True
    decision = Decision(None, answer, retry_after, counts)
    if counts and attempts + 1 >= policy.attempts:
        return decision
    if isinstance(failure, RateLimited | ServiceUnavailable):
        # The server did not process the request: safe to repeat, a create included.
        if policy.fail_fast:
            return decision
    elif isinstance(failure, ServerError):
        if not idempotent or failure.status not in policy.retry_statuses:
            return decision
    elif isinstance(failure, TransportError):
        if not policy.retry_transport_errors:
            return decision
        # A create whose connection was made may have been processed: never send it twice.
        if not idempotent and failure.request_may_have_been_sent:
            return decision
    else:
        return decision
    if (probe and answer is not Answer.ACCEPTED) or policy.fail_fast:
        # A probe: the session is held until its next probe, and that hold is this call's
        # wait too. Fail-fast: nothing sleeps for a retry (a 5xx or a reset is retried at
        # once, within the deadline; a 429 or 503 was raised above).
        wait = 0.0
    elif retry_after is not None:
        wait = retry_after
    elif answer is Answer.REFUSED:
        # The session's throttle paces and holds every call after a 429; the call's own
        # wait only spreads the retries, so it stays short (at most 4 * backoff_base).
        wait = exponential_backoff(policy, min(retries, REFUSED_BACKOFF_STEPS), rng)
    else:
        wait = exponential_backoff(policy, retries, rng)
    if policy.deadline is not None and own_time + wait > policy.deadline:
        return decision
    return attrs.evolve(decision, retry_in=wait)
