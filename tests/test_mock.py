"""`c1iam.testing.MockTransport`: a session without a socket behaves as over the network."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import c1iam
from c1iam.testing import MockTransport
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio

KEY = "key-id:mock-secret"
USERS = [{"id": str(uuid.UUID(int=n)), "email": f"user{n}@example.com"} for n in range(7)]


def paged_users(request: c1iam.Request) -> c1iam.Response:
    """`GET /users` over USERS, two per page, the cursor being the next index."""
    assert (request.method, request.route) == ("GET", "/users")
    query = dict(request.params)
    start = int(query.get("cursor", "0"))
    end = start + int(query["limit"])
    page: dict[str, Any] = {"users": USERS[start:end]}
    if end < len(USERS):
        page["next"] = str(end)
    return c1iam.Response.from_json(page)


async def test_a_stream_follows_the_cursor_over_a_mock_transport() -> None:
    transport = MockTransport(paged_users)
    async with c1iam.Session(KEY, transport=transport) as session:
        users = await session.users.list(page_size=2).collect()
    assert [user.email for user in users] == [user["email"] for user in USERS]
    assert [dict(request.params).get("cursor") for request in transport.requests] == [
        None, "2", "4", "6",
    ]  # fmt: skip
    assert transport.requests[0].url == "https://accounts.cloudone.trendmicro.com/api/users"
    assert transport.requests[0].headers["Authorization"] == f"ApiKey {KEY}"
    assert transport.closed  # the session closed it


async def test_a_503_from_the_handler_is_retried_after_its_retry_after(clock: FakeClock) -> None:
    answers = [
        c1iam.Response.from_json(
            {"message": "maintenance"}, status=503, headers={"Retry-After": "7"}
        ),
        c1iam.Response.from_json(USERS[0]),
    ]

    async def handler(request: c1iam.Request) -> c1iam.Response:  # an async handler
        return answers[request.attempt - 1]

    transport = MockTransport(handler)
    async with c1iam.Session(KEY, transport=transport, clock=clock) as session:
        user = await session.users.describe(USERS[0]["id"].upper())
    assert user.id == USERS[0]["id"]
    assert [request.attempt for request in transport.requests] == [1, 2]
    assert [request.route for request in transport.requests] == ["/users/{id}"] * 2
    assert transport.requests[0].url.endswith(f"/users/{USERS[0]['id']}")  # lower-cased
    assert 7 in clock.sleeps  # waited as the server asked, on the session's clock


async def test_each_request_says_how_long_the_throttle_held_it(clock: FakeClock) -> None:
    transport = MockTransport(lambda request: c1iam.Response.from_json(USERS[0]))
    async with c1iam.Session(KEY, transport=transport, clock=clock, rate=2.0) as session:
        for _ in range(4):
            await session.users.describe(USERS[0]["id"])
    assert [request.queued_for for request in transport.requests] == [0.0, 0.5, 0.5, 0.5]


async def test_a_connection_failure_from_the_handler_is_retried(clock: FakeClock) -> None:
    def handler(request: c1iam.Request) -> c1iam.Response:
        if request.attempt == 1:
            raise c1iam.TransportError("refused", request_may_have_been_sent=False)
        return c1iam.Response.from_json({"id": "new-key", "secret": "bare"})

    transport = MockTransport(handler)
    async with c1iam.Session(KEY, transport=transport, clock=clock) as session:
        key = await session.api_keys.create(role_id="read-only")
    assert key.secret is not None
    assert key.secret.reveal() == "new-key:bare"
    assert transport.requests[1].json() == {"roleID": "read-only"}


async def test_errors_from_a_mock_answer_name_method_host_and_path() -> None:
    transport = MockTransport(lambda request: c1iam.Response.from_json({}, status=404))
    async with c1iam.Session(KEY, transport=transport) as session:
        with pytest.raises(c1iam.NotFound) as raised:
            await session.api_keys.describe("missing")
    assert "GET https://accounts.cloudone.trendmicro.com/api/apikeys/missing" in str(raised.value)


async def test_a_handler_that_answers_no_response_is_a_clear_error() -> None:
    transport = MockTransport(lambda request: {"id": "x"})  # type: ignore[arg-type,return-value]
    async with c1iam.Session(KEY, transport=transport) as session:
        with pytest.raises(TypeError, match=r"must return a c1iam.Response, got dict"):
            await session.api_keys.describe("x")


@pytest.mark.parametrize(
    "options",
    [{"verify": False}, {"trust_env": False}, {"timeout": 5}, {"trace_configs": []}],
)
def test_options_of_the_builtin_transport_are_refused_with_another(options: Any) -> None:
    with pytest.raises(c1iam.InvalidArgument, match=f"{next(iter(options))} configure"):
        c1iam.Session(KEY, transport=MockTransport(paged_users), **options)


def test_a_transport_must_be_one() -> None:
    with pytest.raises(c1iam.InvalidArgument, match=r"c1iam\.Transport"):
        c1iam.Session(KEY, transport=object())  # type: ignore[arg-type]
    assert isinstance(MockTransport(paged_users), c1iam.Transport)
