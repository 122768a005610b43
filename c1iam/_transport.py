"""The transport: the only module of the client that knows aiohttp.

`AiohttpTransport.send` takes a `Request` and returns a `Response` or raises
`TransportError`. It knows nothing of retries, throttling or JSON: those live above it,
so that a test or another HTTP library can stand in with the same two methods.

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

from typing import Final, Protocol

import aiohttp
from yarl import URL

from ._config import DEFAULT_MAX_ANSWER_SIZE
from ._errors import ProtocolError, TransportError
from ._sansio import Request, Response

__all__ = ["MAX_ERROR_BODY_SIZE", "AiohttpTransport", "Transport"]

# An error answer only needs its status and a short message (a proxy's HTML page is a few
# kilobytes): anything beyond this is not worth reading.
MAX_ERROR_BODY_SIZE: Final = 64 * 1024


class Transport(Protocol):
    """What the session needs from an HTTP library."""

    async def send(self, request: Request) -> Response:
        """Send one request; return its answer or raise `TransportError` (`ProtocolError`
        for an answer over the size cap)."""
        ...

    async def aclose(self) -> None:
        """Close every connection."""
        ...


class AiohttpTransport:
    """One `aiohttp.ClientSession` with a connection pool sized to the session's concurrency.

    TLS verification is aiohttp's default (on) and there is no switch to turn it off.
    The `ClientSession` is made on first use, inside the running event loop.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        timeout: float,
        max_answer_size: int = DEFAULT_MAX_ANSWER_SIZE,
    ) -> None:
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_answer_size = max_answer_size
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _client(self) -> aiohttp.ClientSession:
        if self._closed:
            raise TransportError("the session is closed", request_may_have_been_sent=False)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                timeout=self._timeout,
                # No cookies: both APIs are stateless, and a cookie jar would only grow.
                cookie_jar=aiohttp.DummyCookieJar(),
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
        try:
            async with client.request(
                request.method,
                url,
                headers=request.headers,
                data=request.body,
                allow_redirects=False,
            ) as answer:
                body = await self._read(answer, request.description)
                return Response(status=answer.status, headers=answer.headers, body=body)
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
