"""The Session: lifecycle, the request path (throttle, retries, pauses), bulk runs.

Everything talks HTTP to the fake server. Waits come from the server (`Retry-After`)
or from backoff; they are taken on a fake clock shared by the client and the server's
rate limiter, so nothing really sleeps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

import c1iam
from c1iam.testing import FakeCloudOne, Fault, RateLimit
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio


def connect(fake: FakeCloudOne, **kwargs: object) -> c1iam.Session:
    return c1iam.Session(
        fake.api_key,
        accounts_url=fake.accounts_url,
        workload_url=fake.workload_url,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def clocked(fake: FakeCloudOne, clock: FakeClock) -> AsyncIterator[c1iam.Session]:
    """A session on the fake clock."""
    async with connect(fake, clock=clock) as session:
        yield session


# -- construction and lifecycle ------------------------------------------------------------


async def test_the_key_is_in_no_repr(fake: FakeCloudOne) -> None:
    session = connect(fake)
    secret = fake.api_key.split(":", 1)[1]
    assert secret not in repr(session) + str(session)
    assert secret not in repr(session._settings)
    assert secret not in repr(vars(session))


def test_key_and_region_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C1IAM_API_KEY", "id:secret")
    monkeypatch.setenv("C1IAM_REGION", "de-1")
    session = c1iam.Session()
    assert session.region == "de-1"
    assert session.workload_url == "https://workload.de-1.cloudone.trendmicro.com/api"


def test_a_missing_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("C1IAM_API_KEY", raising=False)
    with pytest.raises(ValueError, match="C1IAM_API_KEY"):
        c1iam.Session()


def test_an_unknown_region_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"us-1.*gb-1"):
        c1iam.Session("id:secret", region="mars-1")


@pytest.mark.parametrize(
    "url", ["http://accounts.example.com/api", "http://10.0.0.1/api", "ftp://127.0.0.1/api"]
)
def test_plain_http_only_to_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="accounts_url"):
        c1iam.Session("id:secret", accounts_url=url)


async def test_a_closed_session_refuses_calls(fake: FakeCloudOne) -> None:
    session = connect(fake)
    async with session:
        await session.users.list(max_items=1).collect()
    await session.aclose()  # idempotent
    with pytest.raises(c1iam.C1IAMError, match="closed"):
        await session.users.describe(next(iter(fake.users)))
    with pytest.raises(c1iam.C1IAMError, match="closed"):
        session.users.list()


async def test_closing_the_session_ends_its_streams_with_an_error(fake: FakeCloudOne) -> None:
    session = connect(fake)
    stream = session.users.list(page_size=5)
    pages = stream.pages()
    await anext(aiter(pages))
    await session.aclose()
    with pytest.raises(c1iam.C1IAMError, match="closed"):
        async for _ in pages:
            pass


async def test_many_streams_of_one_session_at_once(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    user_lists, role_lists = await asyncio.gather(
        asyncio.gather(*(session.users.list(page_size=size).collect() for size in range(3, 13))),
        asyncio.gather(
            *(session.administrator_roles.search(page_size=2).collect() for _ in "12345")
        ),
    )
    for users in user_lists:
        assert sorted(user.id for user in users) == sorted(fake.users)
    for roles in role_lists:
        assert [role.id for role in roles] == sorted(fake.roles)


# -- retries and pauses --------------------------------------------------------------------


async def test_an_isolated_503_delays_only_its_own_call(
    fake: FakeCloudOne, clocked: c1iam.Session, clock: FakeClock
) -> None:
    fake.inject(Fault.status(503, html=True, retry_after="30"))
    started = clock.monotonic()
    user = await clocked.users.describe(next(iter(fake.users)))
    assert user.id in fake.users
    assert clock.monotonic() - started >= 30.0
    stats = clocked.stats()
    assert stats.retries == 1
    assert stats.paused_seconds == 0.0  # one 503 is not an outage: nobody else was held
    assert [r.status for r in fake.requests] == [503, 200]


async def test_503s_that_persist_hold_the_session_and_probe(
    fake: FakeCloudOne, clocked: c1iam.Session, clock: FakeClock
) -> None:
    fake.inject(Fault.status(503, retry_after="2", times=5))
    user = await clocked.users.describe(next(iter(fake.users)))
    assert user.id in fake.users
    stats = clocked.stats()
    assert stats.paused_seconds > 0.0  # the third 503 in a row made it an outage
    assert stats.mode == "open"  # the first answer ended the hold
    # Five 503s and the success: the two after the third were probes, each after its
    # Retry-After, and cost no attempt (the default policy allows five).
    assert [r.status for r in fake.requests] == [503] * 5 + [200]


async def test_429_with_an_http_date_is_honoured(
    fake: FakeCloudOne, clocked: c1iam.Session, clock: FakeClock
) -> None:
    # Real time: the client reads the date against the answer's own (real) Date header,
    # which it trusts only near its own wall clock: the fake clock's wall is set to now.
    clock.wall_offset = datetime.now(UTC).timestamp() - clock.now
    when = datetime.now(UTC) + timedelta(seconds=3)
    fake.inject(Fault.status(429, retry_after=format_datetime(when, usegmt=True)))
    started = clock.monotonic()
    await clocked.users.describe(next(iter(fake.users)))
    # The date is read against the answer's own Date header (the server's clock): at most
    # a second of rounding either way, but never much less than asked.
    assert 2.0 <= clock.monotonic() - started <= 4.0
    assert clocked.stats().rate_limited == 1


async def test_429_without_retry_after_backs_off_and_cuts_the_rate(
    fake: FakeCloudOne, clocked: c1iam.Session, clock: FakeClock
) -> None:
    fake.inject(Fault.status(429, times=2))
    await clocked.users.describe(next(iter(fake.users)))
    stats = clocked.stats()
    assert stats.retries == 2
    assert stats.rate is not None  # the session is no longer unlimited
    assert len(clock.sleeps) >= 2


async def test_429s_are_not_attempts(fake: FakeCloudOne, clock: FakeClock) -> None:
    fake.inject(Fault.status(429, retry_after="2", times=3))
    async with connect(fake, clock=clock, retry=c1iam.RetryPolicy(attempts=2)) as session:
        user = await session.users.describe(next(iter(fake.users)))
    assert user.id in fake.users
    assert [r.status for r in fake.requests] == [429, 429, 429, 200]


async def test_the_deadline_bounds_refusals_and_raises_the_last_with_its_retry_after(
    fake: FakeCloudOne, clock: FakeClock
) -> None:
    fake.inject(Fault.status(429, retry_after="2", times=3))
    async with connect(fake, clock=clock, retry=c1iam.RetryPolicy(deadline=3)) as session:
        with pytest.raises(c1iam.RateLimited) as raised:
            await session.users.describe(next(iter(fake.users)))
    assert raised.value.retry_after == 2.0
    assert len(fake.requests) == 2  # a second retry would start 4 s into a 3 s deadline


async def test_fail_fast_raises_at_once(fake: FakeCloudOne, clock: FakeClock) -> None:
    fake.inject(Fault.status(429, retry_after="7"))
    async with connect(fake, clock=clock, retry=c1iam.RetryPolicy(fail_fast=True)) as session:
        with pytest.raises(c1iam.RateLimited) as raised:
            await session.users.describe(next(iter(fake.users)))
    assert raised.value.retry_after == 7.0
    assert clock.sleeps == []


async def test_a_retry_after_beyond_max_wait_is_raised_not_slept(
    fake: FakeCloudOne, clock: FakeClock
) -> None:
    fake.inject(Fault.status(503, retry_after="3600"))
    async with connect(fake, clock=clock, retry=c1iam.RetryPolicy(max_wait=60)) as session:
        with pytest.raises(c1iam.ServiceUnavailable):
            await session.users.describe(next(iter(fake.users)))
    assert all(sleep <= 60 for sleep in clock.sleeps)


async def test_reads_are_retried_on_500_and_resets(
    fake: FakeCloudOne, clocked: c1iam.Session
) -> None:
    fake.inject(Fault.status(500))
    # aiohttp itself re-sends an idempotent request once when a reused connection is
    # reset; the second reset reaches c1iam's retry.
    fake.inject(Fault.reset(times=2))
    users = await clocked.users.list().collect()
    assert len(users) == len(fake.users)
    assert clocked.stats().retries == 2
    assert [r.status for r in fake.requests][:4] == [500, 0, 0, 200]


async def test_a_truncated_body_is_a_protocol_error(fake: FakeCloudOne) -> None:
    fake.inject(Fault.truncated())
    async with connect(fake, retry=c1iam.RetryPolicy(attempts=1)) as session:
        with pytest.raises((c1iam.ProtocolError, c1iam.TransportError)):
            await session.users.describe(next(iter(fake.users)))


async def test_a_slow_answer_times_out(fake: FakeCloudOne) -> None:
    fake.inject(Fault.delay(5.0))
    async with connect(fake, timeout=0.2, retry=c1iam.RetryPolicy(attempts=1)) as session:
        with pytest.raises(c1iam.TransportError, match="no answer"):
            await session.users.describe(next(iter(fake.users)))


async def test_connection_refused_is_a_transport_error() -> None:
    async with c1iam.Session(
        "id:secret",
        accounts_url="http://127.0.0.1:9/api",
        retry=c1iam.RetryPolicy(attempts=2, backoff_base=0.001),
    ) as session:
        with pytest.raises(c1iam.TransportError, match="cannot connect") as raised:
            await session.users.list().collect()
    assert raised.value.request_may_have_been_sent is False


# -- bulk runs under a server rate limit ---------------------------------------------------


async def test_gather_of_many_modifies_under_a_server_rate_limit(clock: FakeClock) -> None:
    async with FakeCloudOne(users=300, seed=3, clock=clock.monotonic) as fake:
        fake.rate_limit = RateLimit(rate=50, burst=10)
        targets = [i for i, u in fake.users.items() if u["state"] == "enabled"]
        # Time moves only when a task sleeps on the fake clock: the server's bucket refills
        # in bursts, so some requests meet many 429s. What matters here is the outcome.
        policy = c1iam.RetryPolicy(attempts=1000, deadline=None)
        async with connect(fake, clock=clock, max_concurrency=8, retry=policy) as session:
            users = await asyncio.gather(
                *(session.users.modify(user_id, state="disabled") for user_id in targets)
            )
            stats = session.stats()
    assert all(user.state == "disabled" for user in users)
    assert all(fake.users[user_id]["state"] == "disabled" for user_id in targets)
    accepted = [r.path for r in fake.requests if r.method == "POST" and r.status == 200]
    assert sorted(accepted) == sorted(f"/users/{user_id}" for user_id in targets)  # once each
    assert stats.rate_limited > 0, "the scenario should have met the server's limit"
    assert stats.rate is not None
    assert stats.rate < 100


async def test_bulk_keeps_one_result_per_item_in_order(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    ids = list(fake.users)[:20]
    del fake.users[ids[5]]
    progress: list[tuple[int, int | None]] = []
    results = await session.bulk(
        lambda user_id: session.users.modify(user_id, role_id="auditor"),
        ids,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert [r.item for r in results] == ids
    assert [r.ok for r in results] == [i != 5 for i in range(20)]
    assert isinstance(results[5].error, c1iam.NotFound)
    assert all(r.value is not None and r.value.role_id == "auditor" for r in results if r.ok)
    assert progress[-1] == (20, 20)


async def test_bulk_over_a_stream(fake: FakeCloudOne, session: c1iam.Session) -> None:
    async def describe(user: c1iam.User) -> c1iam.User:
        return await session.users.describe(user.id)

    results = await session.bulk(describe, session.users.list(page_size=7))
    assert sorted(r.item.id for r in results if r.ok) == sorted(fake.users)


async def test_bulk_over_a_stream_that_fails_raises_the_streams_error(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    # The source's error stops the run, raised as it is (not in an ExceptionGroup): a
    # caller's `except c1iam.C1IAMError` catches it.
    fake.inject(Fault.status(404, path="^/users$", method="GET"))

    async def describe(user: c1iam.User) -> c1iam.User:
        return await session.users.describe(user.id)

    with pytest.raises(c1iam.NotFound):
        await session.bulk(describe, session.users.list(page_size=7))


async def test_bulk_stops_with_the_error_of_its_progress_callback(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    def progress(done: int, total: int | None) -> None:
        raise RuntimeError("the progress bar broke")

    with pytest.raises(RuntimeError, match="progress bar"):
        await session.bulk(session.users.describe, list(fake.users), progress=progress)


async def test_retries_are_logged_with_wait_and_reason(
    fake: FakeCloudOne, clocked: c1iam.Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="c1iam")
    fake.inject(Fault.status(503, retry_after="4"))
    await clocked.users.describe(next(iter(fake.users)))
    assert "retrying in 4.000 s" in caplog.text
    assert "503 ServiceUnavailable, Retry-After 4 s" in caplog.text


async def test_an_error_raised_after_retries_says_how_many_tries(
    fake: FakeCloudOne, clock: FakeClock
) -> None:
    fake.inject(Fault.status(500, times=3))
    async with connect(fake, clock=clock, retry=c1iam.RetryPolicy(attempts=3)) as session:
        with pytest.raises(c1iam.ServerError) as raised:
            await session.users.describe(next(iter(fake.users)))
    assert raised.value.tries == 3
    assert str(raised.value).endswith(", after 3 tries)")


# -- the throttle end to end, on the fake clock -------------------------------------------


async def test_a_bulk_job_outlasting_the_deadline_in_queue_finishes_against_a_full_window(
    fake: FakeCloudOne, clock: FakeClock
) -> None:
    # Deep Security's shape, smaller: 40 calls in any 60 s, no Retry-After. 100 calls need
    # three windows, 120 s of queueing: beyond a 100 s deadline, which counts no queueing.
    fake.clock = clock.monotonic
    fake.rate_limit = RateLimit.sliding_window(calls=40, seconds=60.0)
    user_ids = list(fake.users)[:50] * 2
    started = clock.monotonic()
    async with connect(fake, clock=clock, retry=c1iam.RetryPolicy(deadline=100)) as session:
        users = await asyncio.gather(*(session.users.describe(i) for i in user_ids))
        stats = session.stats()
    assert len(users) == 100
    assert clock.monotonic() - started >= 120.0
    statuses = [r.status for r in fake.requests]
    assert statuses.count(200) == 100
    # The first block is probed, not hammered: the 16 in flight when it filled, then about
    # 60 probes in its minute (0.25 s apart at first, then a tenth of the time held, at most
    # 2 s). After it reopens, the window's books keep each later window to its 40 calls, and
    # at most one early call a window tests its length.
    first_block = statuses[: statuses.index(200, statuses.index(429))]
    assert first_block.count(429) <= 16 + 60
    later = statuses[len(first_block) :]
    assert later.count(429) <= 2
    assert stats.paused_seconds >= 50.0  # the first full window was held; then its books pace


async def test_closing_the_session_ends_a_bulk_run_promptly_with_every_outcome(
    fake: FakeCloudOne, clock: FakeClock
) -> None:
    fake.clock = clock.monotonic
    fake.rate_limit = RateLimit(rate=1.0, burst=1)  # most calls wait in the queue
    async with connect(fake, clock=clock, rate=1.0) as session:
        user_ids = list(fake.users)[:20]
        run = asyncio.ensure_future(
            session.bulk(lambda user_id: session.users.describe(user_id), user_ids)
        )
        for _ in range(1000):  # until two calls are out and the rest wait for their turn
            if session.stats().sent >= 2:
                break
            await asyncio.sleep(0)
        await session.aclose()
        results = await asyncio.wait_for(run, timeout=5)
    assert [r.item for r in results] == user_ids  # one outcome per item, none lost
    closed = [r for r in results if not r.ok]
    assert closed
    assert all(isinstance(r.error, c1iam.C1IAMError) and "closed" in str(r.error) for r in closed)


async def test_fail_fast_calls_beyond_the_deadline_are_refused_unsent(
    fake: FakeCloudOne, clock: FakeClock
) -> None:
    fake.clock = clock.monotonic
    policy = c1iam.RetryPolicy(fail_fast=True, deadline=1.0)
    async with connect(fake, clock=clock, rate=20.0, retry=policy) as session:
        calls = [session.users.describe(i) for i in list(fake.users)[:50]]
        started = clock.monotonic()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        took = clock.monotonic() - started
    refused = [o for o in outcomes if isinstance(o, c1iam.RateLimited)]
    succeeded = [o for o in outcomes if isinstance(o, c1iam.User)]
    assert len(succeeded) + len(refused) == 50
    assert 19 <= len(succeeded) <= 22  # what 20/s allows within the second
    assert took <= 1.0 + 1e-6
    assert all(r.retry_after is not None for r in refused)
    assert len(fake.requests) == len(succeeded)  # the refused ones were never sent


async def test_cancelling_a_queued_call_as_another_returns_leaks_no_slot(
    fake: FakeCloudOne,
) -> None:
    # A speculative call, cancelled as soon as another returned: with one slot, that
    # answer hands it the slot in the same step. The slot must come back.
    async with connect(fake, max_concurrency=1) as session:
        first, second, third = list(fake.users)[:3]
        speculative = asyncio.ensure_future(session.users.describe(second))
        await session.users.describe(first)
        speculative.cancel()
        await asyncio.gather(speculative, return_exceptions=True)
        assert session.stats().in_flight == 0
        user = await asyncio.wait_for(session.users.describe(third), timeout=2.0)
    assert user.id == third


@pytest.mark.parametrize(
    ("status", "retry_after", "error"),
    [(503, "2", c1iam.ServiceUnavailable), (429, None, c1iam.RateLimited)],
)
async def test_a_call_probing_for_the_session_gives_up_when_its_deadline_is_spent(
    fake: FakeCloudOne,
    clock: FakeClock,
    status: int,
    retry_after: str | None,
    error: type[c1iam.APIError],
) -> None:
    # An outage (503s) or a spent quota (429s, no Retry-After) that does not end: a lone
    # call probes it, and its waits for the next probe are its own waits to retry.
    fake.inject(Fault.status(status, retry_after=retry_after, times=1000))
    async with connect(fake, clock=clock, retry=c1iam.RetryPolicy(deadline=10.0)) as session:
        started = clock.monotonic()
        with pytest.raises(error):
            await session.users.describe(next(iter(fake.users)))
        took = clock.monotonic() - started
    # Bounded (it ran 2,000 s, a thousand tries, before): the deadline counts the call's
    # own time, not the turns it queued for at the rate the session cut to before it held,
    # and a retry that would start past it is not made, so it ends near the deadline.
    assert 5.0 <= took <= 20.0
    assert len(fake.requests) < 100
