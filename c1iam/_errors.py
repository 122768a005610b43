"""Every exception c1iam raises, under one root.

```
C1IAMError
├── APIError                the server answered with an error status
│   ├── BadRequest          400
│   ├── Unauthorized        401
│   ├── Forbidden           403
│   ├── NotFound            404
│   ├── RateLimited         429
│   └── ServerError         500 and every other 5xx
│       └── ServiceUnavailable  503
├── TransportError          no HTTP answer: connection refused or reset, timeout
├── ProtocolError           an answer that cannot be understood: not JSON, wrong shape,
│                           over the size cap, nested too deep, a listing that makes
│                           no progress
├── InvalidArgument         (also a ValueError) bad input, raised before anything is sent
└── StreamConsumed          (also a RuntimeError) a stream iterated a second time
```

Statuses without a class of their own (402, 405, 409, ...) raise `APIError` itself.
No message ever contains the API key: messages are built from the status, the
server's own `message`, and the request's method and path, never from headers.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "APIError",
    "BadRequest",
    "C1IAMError",
    "Forbidden",
    "InvalidArgument",
    "NotFound",
    "ProtocolError",
    "RateLimited",
    "ServerError",
    "ServiceUnavailable",
    "StreamConsumed",
    "TransportError",
    "Unauthorized",
    "error_class_for_status",
]


class C1IAMError(Exception):
    """The root of every exception raised by c1iam.

    `tries`: how many times the request was sent before this was raised (1 unless it was
    retried); the message says so when it was more.
    """

    tries: int = 1

    def _tried(self) -> str:
        return f", after {self.tries} tries" if self.tries > 1 else ""


class APIError(C1IAMError):
    """The server answered with an error status.

    `status` is the HTTP status, `message` the body's `message` (or a readable
    summary of a body that had none), `retry_after` the seconds the server asked
    to wait (or `None`), `headers` the response headers.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
        fields: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        # IAM validation errors may name the offending fields (inferred from client code).
        self.fields: Mapping[str, str] = fields if fields is not None else {}
        # "METHOD /path" of the request that failed, for the reader of a traceback.
        self.request: str | None = None

    def __str__(self) -> str:
        where = f" ({self.request}{self._tried()})" if self.request else self._tried()
        return f"{self.status} {self.message}{where}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, message={self.message!r})"


class BadRequest(APIError):
    """400: the server rejected the request as malformed."""


class Unauthorized(APIError):
    """401: the API key is missing, wrong or revoked."""


class Forbidden(APIError):
    """403: the API key's role does not allow this operation."""


class NotFound(APIError):
    """404: no such object."""


class RateLimited(APIError):
    """429: too many requests; `retry_after` says how long the server asked to wait."""


class ServerError(APIError):
    """500 or any other 5xx."""


class ServiceUnavailable(ServerError):
    """503: temporarily unavailable, usually maintenance; see `retry_after`."""


class TransportError(C1IAMError):
    """The request got no HTTP answer: connection refused or reset, or a timeout.

    `request_may_have_been_sent` is False only when the connection was never made,
    so the server cannot have seen the request (safe to send again, a create included).
    """

    def __init__(self, message: str, *, request_may_have_been_sent: bool = True) -> None:
        super().__init__(message)
        self.request_may_have_been_sent = request_may_have_been_sent

    def __str__(self) -> str:
        return f"{super().__str__()}{self._tried()}"


class ProtocolError(C1IAMError):
    """The answer could not be understood: a body that is not JSON, of the wrong shape, over
    the size cap or nested too deep, or a listing that makes no progress."""


class InvalidArgument(C1IAMError, ValueError):
    """An argument was rejected before anything was sent (also a `ValueError`)."""


class StreamConsumed(C1IAMError, RuntimeError):
    """A stream was iterated a second time: streams are single-use."""


_CLASS_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    429: RateLimited,
    503: ServiceUnavailable,
}


def error_class_for_status(status: int) -> type[APIError]:
    """The exception class for an error status (`APIError` for statuses without one)."""
    if status in _CLASS_BY_STATUS:
        return _CLASS_BY_STATUS[status]
    if 500 <= status <= 599:
        return ServerError
    return APIError
