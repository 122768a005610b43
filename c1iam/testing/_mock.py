"""`MockTransport`: a session without a socket, for users' unit tests (httpx's model)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

import attrs

from .._errors import TransportError
from .._sansio import Request, Response

__all__ = ["Handler", "MockTransport"]

Handler = Callable[[Request], Response | Awaitable[Response]]
"""A function (plain or async) from a `c1iam.Request` to a `c1iam.Response`."""


class MockTransport:
    """A `c1iam.Transport` that answers every request with `handler(request)`.

    ```python
    def handler(request: c1iam.Request) -> c1iam.Response:
        if request.route == "/users/{id}":
            return c1iam.Response.from_json({"id": request.url.rsplit("/", 1)[1]})
        return c1iam.Response.from_json({"message": "Not found"}, status=404)

    async with c1iam.Session("id:secret", transport=MockTransport(handler)) as session:
        ...
    ```

    The handler may be async, and may raise `c1iam.TransportError` to play a connection
    failure. Throttling, retries, streams and errors work as over the network: a 429 or a
    503 from the handler is retried. `requests` lists every request sent, in order.
    """

    def __init__(self, handler: Handler) -> None:
        if not callable(handler):
            raise TypeError(f"MockTransport needs a function, got {type(handler).__name__}")
        self._handler = handler
        self.requests: list[Request] = []
        self.closed = False

    async def send(self, request: Request) -> Response:
        """Record `request` and return the handler's answer to it."""
        if self.closed:
            raise TransportError("the transport is closed", request_may_have_been_sent=False)
        self.requests.append(request)
        answer = self._handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, Response):
            raise TypeError(
                f"the MockTransport handler must return a c1iam.Response, "
                f"got {type(answer).__name__}"
            )
        return answer if answer.request is not None else attrs.evolve(answer, request=request)

    async def aclose(self) -> None:
        """Mark the transport closed: later sends raise `TransportError`."""
        self.closed = True
