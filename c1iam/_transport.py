"""The transport: the only module of the client that knows aiohttp.

A `Transport` takes a `Request` and returns a `Response` or raises `TransportError`. It
knows nothing of retries, throttling or JSON: those live above it, so that a test
(`c1iam.testing.MockTransport`) or another HTTP library can stand in with the same two
methods. `AiohttpTransport` is the one a `Session` makes unless it is given another.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any, Protocol, TypeVar, runtime_checkable

import aiohttp
from yarl import URL

from ._config import proxy_for
from ._errors import InvalidArgument, TransportError
from ._sansio import Request, Response

__all__ = ["AiohttpTransport", "Transport", "check_trace_configs", "request_hooks"]

logger = logging.getLogger("c1iam")

StateT = TypeVar("StateT")


@runtime_checkable
class Transport(Protocol):
    """What a `Session` needs from an HTTP library: `Session(transport=...)`.

    `send` sends one `c1iam.Request` and returns its `c1iam.Response` (any status), or
    raises `c1iam.TransportError` when no answer came (set `request_may_have_been_sent=False`
    when the connection was never made: a create may then be sent again). `aclose` closes
    every connection; the session calls it when it closes. Throttling, retries, streams
    and errors by status are the session's, the same over any transport.
    """

    async def send(self, request: Request) -> Response:
        """Send one request; return its answer or raise `TransportError`."""
        ...

    async def aclose(self) -> None:
        """Close every connection."""
        ...


def check_trace_configs(
    trace_configs: Sequence[aiohttp.TraceConfig] | None,
) -> tuple[aiohttp.TraceConfig, ...]:
    """`trace_configs` as a tuple, if each is an `aiohttp.TraceConfig`."""
    if trace_configs is None:
        return ()
    if isinstance(trace_configs, aiohttp.TraceConfig) or not isinstance(
        trace_configs, list | tuple
    ):
        raise InvalidArgument("trace_configs must be a list of aiohttp.TraceConfig")
    for config in trace_configs:
        if not isinstance(config, aiohttp.TraceConfig):
            raise InvalidArgument(
                f"trace_configs must hold aiohttp.TraceConfig objects, got {type(config).__name__}"
            )
    return tuple(trace_configs)


def request_hooks(
    start: Callable[[Mapping[str, Any]], StateT],
    finish: Callable[[StateT, int | None, BaseException | None], None],
) -> aiohttp.TraceConfig:
    """An aiohttp `TraceConfig` that calls `start(fields)` as each c1iam request starts
    (`fields`: method, host, route, attempt, queued_for) and `finish(state, status, error)`
    when it ends, with what `start` returned: the status of an answer, or the exception of
    a request that got none. Requests of other aiohttp clients are left alone. This keeps
    aiohttp's tracing API here: `c1iam.otel` builds spans on it.
    """
    config = aiohttp.TraceConfig()

    async def on_start(
        _: aiohttp.ClientSession, context: SimpleNamespace, __: aiohttp.TraceRequestStartParams
    ) -> None:
        fields = context.trace_request_ctx
        if isinstance(fields, Mapping) and "route" in fields:
            context.c1iam_state = start(fields)

    async def on_end(
        _: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        if hasattr(context, "c1iam_state"):
            finish(context.c1iam_state, params.response.status, None)

    async def on_exception(
        _: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestExceptionParams,
    ) -> None:
        if hasattr(context, "c1iam_state"):
            finish(context.c1iam_state, None, params.exception)

    config.on_request_start.append(on_start)
    config.on_request_end.append(on_end)
    config.on_request_exception.append(on_exception)
    return config


class AiohttpTransport:
    """One `aiohttp.ClientSession` with a connection pool sized to the session's concurrency.

    - `verify`: True (aiohttp's default context, the system's CAs), an `ssl.SSLContext`
      (a private CA's, built by the settings from `verify="ca.pem"`), or False.
    - `proxies`: `{"https": url, "http": url, "no": hosts}` from the environment; a proxy
      is chosen per request (`proxy_for`). aiohttp's own `trust_env` stays off: it would
      also send credentials from `.netrc`.
    - `trace_configs`: aiohttp `TraceConfig`s; each request's `trace_request_ctx` is a dict
      with `method`, `host`, `route`, `attempt` and `queued_for` (never a header).

    The `ClientSession` is made on first use, inside the running event loop.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        timeout: float,
        verify: ssl.SSLContext | bool = True,
        proxies: Mapping[str, str] | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
    ) -> None:
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._verify = verify
        self._proxies = dict(proxies or {})
        self._trace_configs = list(trace_configs)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _client(self) -> aiohttp.ClientSession:
        if self._closed:
            raise TransportError("the session is closed", request_may_have_been_sent=False)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, ssl=self._verify),
                timeout=self._timeout,
                # No cookies: both APIs are stateless, and a cookie jar would only grow.
                cookie_jar=aiohttp.DummyCookieJar(),
                # Proxies are chosen per request from the settings; aiohttp's trust_env
                # would add `.netrc` credentials, and the key header is the only credential.
                trust_env=False,
                trace_configs=self._trace_configs or None,
            )
        return self._session

    async def send(self, request: Request) -> Response:
        """Send `request` and read its whole body."""
        client = self._client()
        url = URL(request.url, encoded=True)
        if request.params:
            # The sans-I/O core encoded nothing of the query: yarl encodes `+`, `/` and `=`
            # in values (an IAM cursor holds all three) as %2B, %2F and %3D.
            url = url.extend_query(request.params)
        fields = request.trace_fields()
        started = time.monotonic()
        try:
            async with client.request(
                request.method,
                url,
                headers=request.headers,
                data=request.body,
                allow_redirects=False,
                proxy=proxy_for(request.url, self._proxies),
                trace_request_ctx=fields,
            ) as answer:
                body = await answer.read()
                response = Response(
                    status=answer.status, headers=answer.headers, body=body, request=request
                )
        except aiohttp.ClientConnectorCertificateError as error:
            raise TransportError(
                f"{request.description}: the server's TLS certificate was refused "
                f"({error.certificate_error}); for a private CA pass verify='ca.pem'",
                request_may_have_been_sent=False,
            ) from None
        except aiohttp.ClientConnectorError as error:
            raise TransportError(
                f"{request.description}: cannot connect: {error.os_error or error}",
                request_may_have_been_sent=False,
            ) from None
        except TimeoutError:
            raise TransportError(
                f"{request.description}: no answer within {self._timeout.total} s"
            ) from None
        except aiohttp.ClientError as error:
            raise TransportError(
                f"{request.description}: {type(error).__name__}: {error}"
            ) from None
        # `extra` gives structured log handlers the same fields as a trace.
        logger.debug(
            "sent %s %s %s: %d in %.3f s (attempt %d, queued %.3f s)",
            fields["method"],
            fields["host"],
            fields["route"],
            response.status,
            time.monotonic() - started,
            fields["attempt"],
            fields["queued_for"],
            extra={"c1iam": {**fields, "status": response.status}},
        )
        return response

    async def aclose(self) -> None:
        """Close the pool; later sends raise `TransportError`."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None
