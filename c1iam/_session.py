"""`Session`: one aiohttp session, one throttle and the resource groups that use them."""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from ._arguments import check_positive_int
from ._bulk import BulkResult, run_bulk
from ._config import (
    DEFAULT_MAX_ANSWER_SIZE,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_SHARED_THROTTLE_PREFIX,
    DEFAULT_TIMEOUT,
    Settings,
    Verify,
)
from ._control import Answer
from ._errors import APIError, C1IAMError, InvalidArgument, TransportError
from ._pagers import Pager
from ._retry import RetryPolicy, decide
from ._sansio import Call, build_request, read_response
from ._store import ThrottleStore, scope_for
from ._streams import Stream, _Failure
from ._throttle import Clock, SystemClock, Throttle, ThrottleStats
from ._transport import AiohttpTransport, Transport, check_trace_configs
from .resources import Accounts, AdministratorRoles, ApiKeys, CloudOneRoles, Invitations, Users

if TYPE_CHECKING:
    import aiohttp

__all__ = ["Session"]

T = TypeVar("T")
ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

logger = logging.getLogger("c1iam")


class Session:
    """A connection to Cloud One IAM and Workload Security, shared by any number of tasks.

    ```python
    async with c1iam.Session(api_key, region="us-1") as session:
        async for user in session.users.list(role_id="read-only"):
            ...
    ```

    - `api_key`: a Cloud One API key, or with `legacy_auth=True` a Deep Security
      `api-secret-key`; default: the environment variable `C1IAM_API_KEY`.
    - `region` (`C1IAM_REGION`, default "us-1"): picks the default `workload_url`.
    - `accounts_url`, `workload_url`: base URLs; `http://` only to loopback hosts.
    - `max_concurrency` (16): requests in flight at once, over every task and stream.
    - `rate` (None): requests per second at most; None starts unlimited and learns the
      server's limit from its 429 answers.
    - `retry` (`RetryPolicy()`): what is retried, how often, how long.
    - `timeout` (30 s): the longest one attempt may take, connecting and reading included.
    - `read_ahead` (1): decoded pages a stream keeps ready for its consumer (one more
      request may be in flight).
    - `max_answer_size` (32 MiB): the largest answer read, counted after decompression; a
      larger one is a `ProtocolError` (error answers: 64 KiB at most).
    - `verify` (True): TLS verification with the system's CAs; a CA bundle path (file or
      directory) or an `ssl.SSLContext` for a private CA, e.g. an on-premises Deep
      Security Manager; False turns it off (the last resort, logged as a warning).
    - `trust_env` (True): proxies from `HTTPS_PROXY` / `HTTP_PROXY`, skipped for hosts in
      `NO_PROXY` and always for loopback hosts. Never credentials from `.netrc`.
    - `user_agent`: a product token (`"my-audit/1.2"`) sent before `c1iam/<version>`.
    - `transport`: a `c1iam.Transport` to send requests with instead of aiohttp, e.g.
      `c1iam.testing.MockTransport`; the session closes it. `verify`, `trust_env`,
      `timeout` and `trace_configs` configure the built-in aiohttp transport, so they
      cannot be combined with it.
    - `trace_configs`: aiohttp `TraceConfig`s; each request's `trace_request_ctx` is a
      dict of `method`, `host`, `route` (`/users/{id}`), `attempt` and `queued_for`.
    - `shared_throttle` (`C1IAM_SHARED_THROTTLE`): a `redis://` or `rediss://` URL; every
      session given the same Redis and the same API key (on the same hosts) shares one
      throttle: its pacing, its learned rate and cuts, its holds, across processes and
      hosts. Needs `pip install 'c1iam[redis]'`. Redis unreachable or slow: the session
      throttles alone (one WARNING) and shares again once Redis answers.
    - `shared_throttle_prefix` ("c1iam"): the prefix of the Redis keys, to share one
      Redis between applications.
    - `clock`: time for the throttle and retries; tests pass a fake one.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        region: str | None = None,
        accounts_url: str | None = None,
        workload_url: str | None = None,
        legacy_auth: bool = False,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        rate: float | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        read_ahead: int = 1,
        max_answer_size: int = DEFAULT_MAX_ANSWER_SIZE,
        shared_throttle: str | None = None,
        shared_throttle_prefix: str = DEFAULT_SHARED_THROTTLE_PREFIX,
        verify: Verify = True,
        trust_env: bool = True,
        user_agent: str | None = None,
        transport: Transport | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        clock: Clock | None = None,
    ) -> None:
        if transport is not None:
            _check_transport(
                transport,
                verify=verify,
                trust_env=trust_env,
                timeout=timeout,
                trace_configs=trace_configs,
            )
        self._trace_configs = check_trace_configs(trace_configs)
        self._settings = Settings.resolve(
            api_key,
            region=region,
            accounts_url=accounts_url,
            workload_url=workload_url,
            legacy_auth=legacy_auth,
            max_concurrency=max_concurrency,
            rate=rate,
            retry=retry,
            timeout=timeout,
            max_answer_size=max_answer_size,
            verify=verify,
            trust_env=trust_env,
            user_agent=user_agent,
            shared_throttle=shared_throttle,
            shared_throttle_prefix=shared_throttle_prefix,
        )
        self._read_ahead = check_positive_int("read_ahead", read_ahead)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._random = random.Random()  # noqa: S311 - jitter, not cryptography
        # Made on first use, inside the running event loop (unless given).
        self._transport: Transport | None = transport
        self._throttle: Throttle | None = None
        self._streams: weakref.WeakSet[Stream[Any]] = weakref.WeakSet()
        self._closed = False
        # The event loop of the first use: aiohttp's connections and the throttle's
        # locks belong to it, and cannot serve another one.
        self._loop: asyncio.AbstractEventLoop | None = None
        self.users = Users(self)
        """Cloud One IAM users."""
        self.api_keys = ApiKeys(self)
        """Cloud One IAM API keys."""
        self.roles = CloudOneRoles(self)
        """Cloud One roles (IAM), which users and API keys hold."""
        self.accounts = Accounts(self)
        """The Cloud One account itself."""
        self.invitations = Invitations(self)
        """Invitations to join the Cloud One account."""
        self.administrator_roles = AdministratorRoles(self)
        """Workload Security / Deep Security Manager administrator roles."""

    @property
    def region(self) -> str:
        """The Cloud One region."""
        return self._settings.region

    @property
    def accounts_url(self) -> str:
        """The IAM base URL."""
        return self._settings.accounts_url

    @property
    def workload_url(self) -> str:
        """The Workload Security / Deep Security Manager base URL."""
        return self._settings.workload_url

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<c1iam.Session {state} region={self.region!r} "
            f"accounts_url={self.accounts_url!r} workload_url={self.workload_url!r}>"
        )

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Session:
        self._started()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every stream of this session and close its connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for stream in list(self._streams):
            await stream._close(_Failure(C1IAMError("the session was closed")))
        if self._throttle is not None:
            await self._throttle.aclose()
        if self._transport is not None:
            await self._transport.aclose()

    def _check_open(self) -> None:
        """Refuse a closed session, or one whose event loop is closed or not this one."""
        if self._closed:
            raise C1IAMError("the session is closed")
        loop = self._loop
        if loop is None:
            return
        if loop.is_closed():
            raise C1IAMError(
                "the session's event loop is closed: a Session belongs to the event loop "
                "it was first used in; make a new Session in the new loop"
            )
        running = _running_loop()
        if running is not None and running is not loop:
            # Its connections and locks belong to the first loop: used from another one,
            # they would hang or fail deep inside aiohttp.
            raise C1IAMError(
                "the session is used from a second event loop: a Session belongs to the "
                "event loop it was first used in; make one Session per event loop"
            )

    def _started(self) -> tuple[Transport, Throttle]:
        self._check_open()
        running = _running_loop()
        if running is None:
            raise C1IAMError(
                "c1iam runs on asyncio (aiohttp does): no asyncio event loop is running "
                "here (with anyio, use its asyncio backend, not trio)"
            )
        if self._loop is None:
            self._loop = running
        settings = self._settings
        if self._transport is None:
            self._transport = AiohttpTransport(
                max_connections=settings.max_concurrency,
                timeout=settings.timeout,
                max_answer_size=settings.max_answer_size,
                verify=settings.verify,
                proxies=settings.proxies,
                trace_configs=self._trace_configs,
            )
        if self._throttle is None:
            self._throttle = Throttle(
                max_concurrency=settings.max_concurrency,
                rate=settings.rate,
                pause_threshold=settings.retry.pause_threshold,
                clock=self._clock,
                store=self._shared_store(),
            )
        return self._transport, self._throttle

    def _shared_store(self) -> ThrottleStore | None:
        """The Redis store of `shared_throttle` (its module is imported only then)."""
        settings = self._settings
        if settings.shared_throttle is None:
            return None
        from ._redis import RedisStore

        scope = scope_for(
            settings.api_key.reveal(),
            legacy_auth=settings.legacy_auth,
            urls=(settings.accounts_url, settings.workload_url),
        )
        return RedisStore(
            settings.shared_throttle,
            scope=scope,
            prefix=settings.shared_throttle_prefix,
            clock=self._clock,
        )

    async def bulk(
        self,
        function: Callable[[ItemT], Awaitable[ResultT]],
        items: Iterable[ItemT] | AsyncIterable[ItemT],
        *,
        progress: Callable[[int, int | None], object] | None = None,
    ) -> list[BulkResult[ItemT, ResultT]]:
        """Run `function(item)` for every item, in parallel within the session's limits.

        Returns one `BulkResult` per item, in input order: its value, or the exception it
        raised (one failure does not stop the others). `items` may be a stream: it is
        consumed as the run goes. `progress(done, total)` follows each item. An error of
        `items` itself (a stream that fails) or of `progress` stops the run and is raised
        as it is.

        ```python
        results = await session.bulk(
            lambda user_id: session.users.modify(user_id, state="disabled"), user_ids
        )
        failed = [r for r in results if not r.ok]
        ```
        """
        # Twice the slots: a task sleeping before a retry holds no slot, and another
        # task should be ready to use it.
        workers = 2 * self._settings.max_concurrency
        return await run_bulk(function, items, workers=workers, progress=progress)

    def stats(self) -> ThrottleStats:
        """The throttle's state now: rate, in flight, queued, retries, pauses."""
        _, throttle = self._started()
        return throttle.stats()

    # -- the request path -------------------------------------------------------------------

    async def _request(self, call: Call) -> Any:
        """Send `call`: throttle, transport, read; on a failure `decide` says what next.

        Call -> `Throttle.acquire` (turn and slot) -> transport -> `read_response` ->
        `Throttle.finish` (the governor learns the answer) -> `decide` (retry when; what
        the session learns) -> back to `acquire`, with `not_before`, or raise.
        """
        transport, throttle = self._started()
        request = build_request(call, self._settings)
        policy = self._settings.retry
        started = self._clock.monotonic()
        # With fail_fast the deadline bounds the whole call, queueing included.
        give_up_at = (
            started + policy.deadline if policy.fail_fast and policy.deadline is not None else None
        )
        own_time = 0.0  # sending and waiting to retry; not queueing (see RetryPolicy)
        attempts = retries = 0
        not_before: float | None = None
        probed = False  # the last try was the session's probe, and failed
        while True:
            ticket = await throttle.acquire(not_before=not_before, give_up_at=give_up_at)
            if probed and give_up_at is None:
                # A failed probe retries when the session's hold lets the next probe out:
                # that wait is its own wait to retry, not queueing, and counts.
                own_time += ticket.queued
            try:
                response = await transport.send(
                    request.for_attempt(retries + 1, queued_for=ticket.queued)
                )
                result = read_response(call, response, now=self._clock.time())
            except (APIError, TransportError) as error:
                failure: C1IAMError = error
            except BaseException:
                throttle.finish(ticket)  # cancelled, or an answer that cannot be read
                raise
            else:
                throttle.finish(ticket, Answer.ACCEPTED)
                logger.debug("%s: %d (try %d)", request.description, response.status, retries + 1)
                return result
            now = self._clock.monotonic()
            own_time = (
                now - started if give_up_at is not None else own_time + (now - ticket.sent_at)
            )
            decision = decide(
                policy,
                failure,
                attempts=attempts,
                retries=retries,
                own_time=own_time,
                idempotent=call.idempotent,
                probe=ticket.probe,
                rng=self._random,
            )
            throttle.finish(ticket, decision.answer, retry_after=decision.retry_after)
            attempts += decision.attempt
            if decision.retry_in is None:
                failure.tries = retries + 1
                logger.debug(
                    "%s: giving up after %d tries: %s",
                    request.description,
                    retries + 1,
                    _reason(failure),
                )
                raise failure
            retries += 1
            probed = ticket.probe
            own_time += decision.retry_in
            not_before = now + decision.retry_in
            logger.debug(
                "%s: retrying in %.3f s (try %d) after %s",
                request.description,
                decision.retry_in,
                retries + 1,
                _reason(failure),
            )

    def _stream(self, pager: Pager, decode: Callable[[Any], T]) -> Stream[T]:
        self._check_open()
        stream = Stream(
            pager=pager,
            fetch=self._request,
            decode=decode,
            read_ahead=self._read_ahead,
            check=self._started,
        )
        self._streams.add(stream)
        return stream


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # no asyncio loop: sync code, or another library such as trio
        return None


def _check_transport(
    transport: object,
    *,
    verify: object,
    trust_env: object,
    timeout: object,
    trace_configs: object,
) -> None:
    """Refuse a transport that is not one, or options it would silently ignore."""
    if not isinstance(transport, Transport):
        raise InvalidArgument(
            "transport must have async send(request) and aclose() (c1iam.Transport), "
            f"got {type(transport).__name__}"
        )
    ignored = [
        name
        for name, value, default in (
            ("verify", verify, True),
            ("trust_env", trust_env, True),
            ("timeout", timeout, DEFAULT_TIMEOUT),
            ("trace_configs", trace_configs, None),
        )
        if value != default
    ]
    if ignored:
        raise InvalidArgument(
            f"{', '.join(ignored)} configure the built-in aiohttp transport; "
            "with transport= configure your transport instead"
        )


def _reason(failure: C1IAMError) -> str:
    if isinstance(failure, APIError):
        retry_after = (
            "" if failure.retry_after is None else f", Retry-After {failure.retry_after:g} s"
        )
        return f"{failure.status} {type(failure).__name__}{retry_after}"
    return type(failure).__name__
