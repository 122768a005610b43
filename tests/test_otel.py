"""`c1iam.otel`: OpenTelemetry spans per request, read back with the SDK's in-memory exporter."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

import c1iam
from c1iam.otel import trace_config
from c1iam.testing import FakeCloudOne, Fault
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


async def test_one_span_per_attempt_with_route_status_and_never_the_key(
    fake: FakeCloudOne, clock: FakeClock, exporter: InMemorySpanExporter, provider: TracerProvider
) -> None:
    user_id = next(iter(fake.users))
    fake.inject(Fault.status(503, method="GET", path="^/users/", retry_after="2"))
    async with c1iam.Session(
        fake.api_key,
        accounts_url=fake.accounts_url,
        workload_url=fake.workload_url,
        trace_configs=[trace_config(tracer_provider=provider)],
        clock=clock,
    ) as session:
        await session.users.describe(user_id)
    spans = exporter.get_finished_spans()
    assert [span.name for span in spans] == ["GET /users/{id}", "GET /users/{id}"]
    first, second = (dict(span.attributes or {}) for span in spans)
    host, port = fake.accounts_url.split("/")[2].split(":")
    assert first == {
        "http.request.method": "GET",
        "server.address": host,
        "server.port": int(port),
        "url.template": "/users/{id}",
        "c1iam.attempt": 1,
        "c1iam.queued_for": 0.0,
        "http.response.status_code": 503,
        "error.type": "503",
    }
    assert second["http.response.status_code"] == 200
    assert second["c1iam.attempt"] == 2
    assert second["http.request.resend_count"] == 1
    assert [span.kind for span in spans] == [SpanKind.CLIENT] * 2
    assert [span.status.status_code for span in spans] == [StatusCode.ERROR, StatusCode.UNSET]
    secret = fake.api_key.split(":")[1]
    everything = repr([(span.name, span.attributes, span.events) for span in spans])
    assert secret not in everything
    assert user_id not in everything  # the template, not the path


async def test_a_request_without_an_answer_ends_its_span_with_the_error_type(
    exporter: InMemorySpanExporter, provider: TracerProvider
) -> None:
    async with c1iam.Session(
        "id:secret",
        accounts_url="http://127.0.0.1:9/api",
        retry=c1iam.RetryPolicy(attempts=1),
        trace_configs=[trace_config(tracer_provider=provider)],
    ) as session:
        with pytest.raises(c1iam.TransportError):
            await session.accounts.describe("123456789012")
    (span,) = exporter.get_finished_spans()
    assert span.name == "GET /accounts/{id}"
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "ClientConnectorError"
