"""OpenTelemetry spans for c1iam's requests (`pip install 'c1iam[otel]'`).

```python
import c1iam
from c1iam.otel import trace_config

async with c1iam.Session(trace_configs=[trace_config()]) as session:
    ...
```

One client span per HTTP request (a retry is a span of its own), named after the route
template (`GET /users/{id}`), with OpenTelemetry's HTTP attributes (`http.request.method`,
`server.address`, `server.port`, `url.template`, `http.response.status_code`,
`http.request.resend_count`, `error.type`) and c1iam's own `c1iam.attempt` and
`c1iam.queued_for` (seconds the request waited for the session's throttle). Never a header,
a query (cursors) or a body: the API key cannot reach a span.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

try:
    from opentelemetry import trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("c1iam.otel needs OpenTelemetry's API: pip install 'c1iam[otel]'") from error

from ._transport import request_hooks
from ._version import __version__

if TYPE_CHECKING:
    import aiohttp

__all__ = ["trace_config"]


def trace_config(*, tracer_provider: trace.TracerProvider | None = None) -> aiohttp.TraceConfig:
    """An aiohttp `TraceConfig` for `Session(trace_configs=[...])` that makes the spans
    described above, with the global tracer provider or `tracer_provider`."""
    tracer = trace.get_tracer("c1iam", __version__, tracer_provider=tracer_provider)

    def start(fields: Mapping[str, Any]) -> Span:
        address = urlsplit(f"//{fields['host']}")
        attributes: dict[str, Any] = {
            "http.request.method": fields["method"],
            "server.address": address.hostname or fields["host"],
            "url.template": fields["route"],
            "c1iam.attempt": fields["attempt"],
            "c1iam.queued_for": fields["queued_for"],
        }
        if address.port is not None:
            attributes["server.port"] = address.port
        if fields["attempt"] > 1:
            attributes["http.request.resend_count"] = fields["attempt"] - 1
        return tracer.start_span(
            f"{fields['method']} {fields['route']}", kind=SpanKind.CLIENT, attributes=attributes
        )

    def finish(span: Span, status: int | None, error: BaseException | None) -> None:
        if status is not None:
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                span.set_attribute("error.type", str(status))
                span.set_status(Status(StatusCode.ERROR))
        elif error is not None:
            # The exception's type only: its text comes from aiohttp, outside our control.
            span.set_attribute("error.type", type(error).__qualname__)
            span.set_status(Status(StatusCode.ERROR, type(error).__qualname__))
        span.end()

    return request_hooks(start, finish)
