"""The transport: the only module of the client that knows aiohttp.

`AiohttpTransport.send` takes a `Request` and returns a `Response` or raises
`TransportError`. It knows nothing of retries, throttling or JSON: those live above it,
so that a test or another HTTP library can stand in with the same two methods.
"""

from __future__ import annotations

from typing import Protocol

import aiohttp
from yarl import URL

from ._errors import TransportError
from ._sansio import Request, Response

__all__ = ["AiohttpTransport", "Transport"]


class Transport(Protocol):
    """What the session needs from an HTTP library."""

    async def send(self, request: Request) -> Response:
        """Send one request; return its answer or raise `TransportError`."""
        ...

    async def aclose(self) -> None:
        """Close every connection."""
        ...


class AiohttpTransport:
    """One `aiohttp.ClientSession` with a connection pool sized to the session's concurrency.

    TLS verification is aiohttp's default (on) and there is no switch to turn it off.
    The `ClientSession` is made on first use, inside the running event loop.
    """

    def __init__(self, *, max_connections: int, timeout: float) -> None:
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(total=timeout)
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
        """Send `request` and read its whole body."""
        client = self._client()
        url = URL(request.url, encoded=True)
        if request.params:
            # The sans-I/O core encoded nothing of the query: yarl encodes `+`, `/` and `=`
            # in values (an IAM cursor holds all three) as %2B, %2F and %3D.
            url = url.extend_query(request.params)
        try:
            async with client.request(
                request.method,
                url,
                headers=request.headers,
                data=request.body,
                allow_redirects=False,
            ) as answer:
                body = await answer.read()
                return Response(status=answer.status, headers=answer.headers, body=body)
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

    async def aclose(self) -> None:
        """Close the pool; later sends raise `TransportError`."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None
