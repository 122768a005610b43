"""The transport: the only module of the client that knows aiohttp.

A `Transport` takes a `Request` and returns a `Response` or raises `TransportError`. It
knows nothing of retries, throttling or JSON: those live above it, so that a test
(`c1iam.testing.MockTransport`) or another HTTP library can stand in with the same two
methods. `AiohttpTransport` is the one a `Session` makes unless it is given another.

Two things it guards on every answer, because only it sees the bytes arrive:
- size: a body is read chunk by chunk, after decompression, and given up (`ProtocolError`,
  connection dropped) as soon as it passes the cap, so that neither a huge body nor a small
  gzip bomb can exhaust memory. Error bodies get a far smaller cap: a message fits in a few
  kilobytes.
- secrets: aiohttp's exceptions carry the request, `Authorization` header included. A
  `TransportError` is raised after the `except` block, so that neither `__cause__` nor
  `__context__` leads back to them.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any, Final, Protocol, TypeVar, runtime_checkable

import aiohttp
from yarl import URL

from ._config import DEFAULT_MAX_ANSWER_SIZE, proxy_for
from ._errors import InvalidArgument, ProtocolError, TransportError
from ._sansio import Request, Response

__all__ = [
    "MAX_ERROR_BODY_SIZE",
    "AiohttpTransport",
    "Transport",
    "check_trace_configs",
    "request_hooks",
]

logger = logging.getLogger("c1iam")

StateT = TypeVar("StateT")

# An error answer only needs its status and a short message (a proxy's HTML page is a few
# kilobytes): anything beyond this is not worth reading.
MAX_ERROR_BODY_SIZE: Final = 64 * 1024


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
        """Send one request; return its answer or raise `TransportError` (`ProtocolError`
        for an answer over the size cap)."""
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
        raise InvalidArgument(
            "trace_configs must be a list of aiohttp.TraceConfig, "
            f"got {type(trace_configs).__name__}"
        )
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
        max_answer_size: int = DEFAULT_MAX_ANSWER_SIZE,
        verify: ssl.SSLContext | bool = True,
        proxies: Mapping[str, str] | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
    ) -> None:
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_answer_size = max_answer_size
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
        """Send `request` and read its whole body (at most the size cap)."""
        client = self._client()
        url = URL(request.url, encoded=True)
        if request.params:
            # The sans-I/O core encoded nothing of the query: yarl encodes `+`, `/` and `=`
            # in values (an IAM cursor holds all three) as %2B, %2F and %3D.
            url = url.extend_query(request.params)
        failure: TransportError
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
                body = await self._read(answer, request.description)
                response = Response(
                    status=answer.status, headers=answer.headers, body=body, request=request
                )
        except aiohttp.ClientConnectorCertificateError as error:
            failure = TransportError(
                f"{request.description}: the server's TLS certificate was refused "
                f"({error.certificate_error}); for a private CA pass verify='ca.pem'",
                request_may_have_been_sent=False,
            )
        except aiohttp.ClientConnectorError as error:
            failure = TransportError(
                f"{request.description}: cannot connect: {error.os_error or error}",
                request_may_have_been_sent=False,
            )
        except TimeoutError:
            failure = TransportError(
                f"{request.description}: no answer within {self._timeout.total} s"
            )
        except aiohttp.ClientError as error:
            # Not `str(error)`: a ClientResponseError's text includes its request info.
            failure = TransportError(f"{request.description}: {_summary(error)}")
        else:
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
        # Raised here, outside the `except` blocks: `raise ... from None` would still keep
        # aiohttp's exception (and the request headers it holds) as `__context__`.
        raise failure

    async def _read(self, answer: aiohttp.ClientResponse, description: str) -> bytes:
        """The body, decompressed, or `ProtocolError` as soon as it passes the cap."""
        success = 200 <= answer.status <= 299
        cap = self._max_answer_size if success else min(self._max_answer_size, MAX_ERROR_BODY_SIZE)
        declared = answer.content_length
        if declared is not None and declared > cap and not answer.headers.get("Content-Encoding"):
            answer.close()
            raise _too_large(description, answer.status, cap)
        body = bytearray()
        async for chunk in answer.content.iter_any():
            body += chunk
            if len(body) > cap:
                # Drop the connection: the rest of the body is never read.
                answer.close()
                raise _too_large(description, answer.status, cap)
        return bytes(body)

    async def aclose(self) -> None:
        """Close the pool; later sends raise `TransportError`."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None


def _too_large(description: str, status: int, cap: int) -> ProtocolError:
    kind = "answer" if 200 <= status <= 299 else "error answer"
    return ProtocolError(
        f"{description}: status {status} with an {kind} larger than {cap:,} bytes "
        "(after decompression): not read"
    )


def _summary(error: aiohttp.ClientError) -> str:
    """What went wrong, from an aiohttp exception, without its request info or headers."""
    if isinstance(error, aiohttp.ClientResponseError):
        detail = f"{error.status}, {error.message}"
    else:
        detail = str(error)
    # A parser error quotes what it could not parse: a few hundred characters say enough.
    return f"{type(error).__name__}: {detail[:300]}"
