"""The protocol core: requests out, responses in. Pure: no I/O, no aiohttp.

A resource describes what it wants as a `Call` (which API, method, path, query, JSON
body, and the path's route template for traces). `build_request` turns it into a
`Request` (absolute URL, headers, encoded body) for the transport; `read_response` turns
the transport's `Response` into parsed JSON or the right `APIError`. `parse_retry_after`
reads both forms of RFC 9110's `Retry-After`.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import quote, urlsplit

import attrs

from ._auth import auth_headers
from ._config import Settings
from ._errors import APIError, InvalidArgument, ProtocolError, error_class_for_status

__all__ = [
    "Api",
    "Call",
    "Request",
    "Response",
    "build_request",
    "error_from_response",
    "expect_items",
    "expect_object",
    "parse_retry_after",
    "path",
    "read_response",
]


class Api(enum.Enum):
    """Which of the two services a call goes to."""

    ACCOUNTS = "accounts"  # Cloud One Accounts and Identity Management
    WORKLOAD = "workload"  # Workload Security / Deep Security Manager


def path(*segments: str) -> str:
    """Join URL path segments, percent-encoding each one (a `/` inside a segment included)."""
    return "".join("/" + quote(segment, safe="") for segment in segments)


@attrs.frozen(kw_only=True)
class Call:
    """What a resource asks for, before URLs and credentials are known.

    `idempotent` is False only for creates: a create is never sent twice after an
    ambiguous failure. `route` is the path with its IDs replaced by placeholders
    (`/users/{id}`): what traces and metrics group requests by (default: the path, for
    paths without IDs).
    """

    api: Api
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    json: Any = None
    idempotent: bool = True
    route: str = attrs.field(default=attrs.Factory(lambda call: call.path, takes_self=True))

    def describe(self) -> str:
        """`METHOD /path` for log lines and error messages (never the query: it holds cursors)."""
        return f"{self.method} {self.path}"


@attrs.frozen(kw_only=True)
class Request:
    """One HTTP request, as a `Transport` sends it.

    `url` is absolute, without the query; `params` the query, not yet encoded; `body` the
    encoded JSON (or None). `headers` carry the API key, so they are kept out of the repr.
    `route` is the path template (`/users/{id}`), `attempt` counts from 1, and `queued_for`
    is the seconds this attempt waited for the session's throttle: for traces and logs.
    `description` (`GET https://host/api/users`) names it in messages: never the query
    (it holds cursors) nor a header.
    """

    method: str
    url: str
    params: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    body: bytes | None = None
    idempotent: bool = True
    route: str = ""
    attempt: int = 1
    queued_for: float = 0.0
    description: str = attrs.field(
        default=attrs.Factory(lambda request: f"{request.method} {request.url}", takes_self=True)
    )

    @property
    def host(self) -> str:
        """The host, with its port when the URL names one."""
        return urlsplit(self.url).netloc

    def json(self) -> Any:
        """The body, decoded (None without a body): for a `MockTransport` handler."""
        return None if self.body is None else json.loads(self.body)

    def for_attempt(self, attempt: int, *, queued_for: float) -> Request:
        """This request, numbered as the `attempt`-th try, after `queued_for` seconds queued."""
        return attrs.evolve(self, attempt=attempt, queued_for=queued_for)

    def trace_fields(self) -> dict[str, Any]:
        """What a trace or a log line may say about this request: never a header, a body
        or the query (which holds cursors)."""
        return {
            "method": self.method,
            "host": self.host,
            "route": self.route,
            "attempt": self.attempt,
            "queued_for": self.queued_for,
        }


@attrs.frozen(kw_only=True)
class Response:
    """What a `Transport` got back: status, headers (a case-insensitive mapping when the
    transport has one), the raw body, and the request it answers (for error messages).

    The body is kept out of repr: it may hold a secret (a created key's), and a traceback
    that records frame locals would print it.
    """

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = attrs.field(default=b"", repr=False)
    request: Request | None = attrs.field(default=None, repr=False, eq=False)

    @classmethod
    def from_json(
        cls, data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        """An answer with `data` as its JSON body (for a `MockTransport` handler)."""
        return cls(
            status=status,
            headers={"Content-Type": "application/json", **(headers or {})},
            body=_JSON_ENCODER.encode(data).encode(),
        )


_JSON_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def build_request(call: Call, settings: Settings) -> Request:
    """Resolve a call against a session's settings: base URL, auth and version headers."""
    if call.api is Api.ACCOUNTS:
        if settings.legacy_auth:
            # A legacy `api-secret-key` is a Workload Security credential: IAM cannot take it.
            raise InvalidArgument(
                "this session uses legacy_auth (a Workload Security api-secret-key); "
                "the Accounts and Identity Management API needs a Cloud One API key"
            )
        base = settings.accounts_url
        headers = dict(auth_headers(settings.api_key, legacy=False))
    else:
        base = settings.workload_url
        headers = dict(auth_headers(settings.api_key, legacy=settings.legacy_auth))
    headers["Accept"] = "application/json"
    headers["User-Agent"] = settings.user_agent
    body: bytes | None = None
    if call.json is not None:
        body = _JSON_ENCODER.encode(call.json).encode()
        # Only requests with a body say what it is, as the Workload Security API asks.
        headers["Content-Type"] = "application/json"
    return Request(
        method=call.method,
        url=base + call.path,
        params=call.params,
        headers=headers,
        body=body,
        idempotent=call.idempotent,
        route=call.route,
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        # Plain dicts (in tests, say) are case-sensitive; HTTP header names are not.
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def parse_retry_after(
    value: str | None, *, now: float, response_date: str | None = None
) -> float | None:
    """Seconds to wait from a `Retry-After` value, or `None` if absent or unreadable.

    Delta-seconds ("120", decimals tolerated) or an HTTP-date (RFC 9110 section 10.2.3).
    An HTTP-date is measured against the response's own `Date` header when there is one
    within `MAX_CLOCK_SKEW` of `now` (POSIX seconds), so that a skewed local clock does not
    matter; otherwise against `now`.
    A date in the past means "now": 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds != seconds or seconds in (float("inf"), float("-inf")):
            return None
        return max(0.0, seconds)
    when = _http_date(text)
    if when is None:
        return None
    reference = now
    server_now = _http_date(response_date) if response_date is not None else None
    # The server's own clock cancels a skew between the two clocks, but only a sane one:
    # a `Date` of 1970 would turn a date into a wait of decades.
    if server_now is not None and abs(server_now - now) <= MAX_CLOCK_SKEW:
        reference = server_now
    return max(0.0, when - reference)


def _http_date(text: str) -> float | None:
    """An HTTP-date as POSIX seconds, or `None` if it is none. RFC 9110 section 5.6.7: a
    recipient accepts all three forms, and every one is GMT (the asctime form, and
    RFC 5322's `-0000`, carry no zone: they are read as GMT too)."""
    try:
        when = parsedate_to_datetime(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        # (A zone offset or a field of twenty digits overflows.)
        return None


def _parse_json(body: bytes) -> tuple[Any, str | None]:
    """The JSON value, or what is wrong with the body (never its content, nor an exception
    whose `doc` or `__context__` would hold it).

    Python's parser recurses once per level: JSON nested tens of thousands deep raises
    `RecursionError`, which must not escape as if the library itself were broken.
    """
    try:
        return json.loads(body), None
    except RecursionError:
        return None, "a JSON answer nested too deep to be read"
    except ValueError:
        return None, "an answer that is not JSON"


# A server's `Date` further than this from the local clock is not used (seconds).
MAX_CLOCK_SKEW: Final = 86_400.0

_HTML_TITLE: Final = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_REASONS: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _readable_message(response: Response) -> tuple[str, Mapping[str, str]]:
    """The body's `message` (and `fields`), or a readable summary of a body without one."""
    reason = _REASONS.get(response.status, "HTTP error")
    if response.body:
        data, _ = _parse_json(response.body)
        if isinstance(data, dict):
            message = data.get("message")
            fields = data.get("fields")
            checked_fields = (
                {str(k): str(v) for k, v in fields.items()} if isinstance(fields, dict) else {}
            )
            if isinstance(message, str) and message:
                return message, checked_fields
        # A proxy's HTML error page: its title is the most readable part.
        text = response.body[:4096].decode("utf-8", "replace")
        title = _HTML_TITLE.search(text)
        if title and title.group(1).strip():
            return f"{reason} ({' '.join(title.group(1).split())[:200]})", {}
        content_type = _header(response.headers, "Content-Type") or "no content type"
        return f"{reason} (a {content_type.split(';')[0]} body without a message)", {}
    return f"{reason} (empty body)", {}


def error_from_response(call: Call, response: Response, *, now: float) -> APIError:
    """The `APIError` subclass for an error status, with message, headers and retry-after."""
    message, fields = _readable_message(response)
    retry_after = parse_retry_after(
        _header(response.headers, "Retry-After"),
        now=now,
        response_date=_header(response.headers, "Date"),
    )
    error = error_class_for_status(response.status)(
        message,
        status=response.status,
        retry_after=retry_after,
        headers=response.headers,
        fields=fields,
    )
    error.request = _where(call, response)
    return error


def _where(call: Call, response: Response) -> str:
    # The request the transport answered names the host too; a bare call only its path.
    if response.request is not None:
        return response.request.description
    return call.describe()


def read_response(call: Call, response: Response, *, now: float) -> Any:
    """Parsed JSON of a successful answer (`None` for an empty body), else raise `APIError`."""
    if not 200 <= response.status <= 299:
        raise error_from_response(call, response, now=now)
    if not response.body.strip():
        return None
    data, problem = _parse_json(response.body)
    if problem is not None:
        raise ProtocolError(f"{_where(call, response)}: status {response.status}: {problem}")
    return data


def expect_object(data: Any, what: str) -> dict[str, Any]:
    """`data` if it is a JSON object, else a `ProtocolError` naming what was expected."""
    if not isinstance(data, dict):
        raise ProtocolError(f"expected {what} as a JSON object, got {type(data).__name__}")
    return data


def expect_items(data: Any, key: str) -> list[dict[str, Any]]:
    """The list of JSON objects under `key` of a JSON object, else a `ProtocolError`."""
    body = expect_object(data, f"an answer with a list under {key!r}")
    items = body.get(key)
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ProtocolError(f"expected a list of JSON objects under {key!r}")
    return items
