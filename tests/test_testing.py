"""The fake server itself, over raw HTTP: it must be as strict as the real services.

This file speaks HTTP with aiohttp directly (it tests the server side, including what
c1iam's client never sends); the pure parts are tested without a network.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from c1iam.testing import FakeCloudOne, Fault, Outages, RateLimit
from c1iam.testing._faults import (
    ServerBucket,
    format_retry_after,
    parse_maintenance,
    parse_sliding_window,
)
from c1iam.testing._state import Refused, RoleStore, decode_cursor, encode_cursor, search_roles

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def iam_headers(fake: FakeCloudOne) -> dict[str, str]:
    return {"Authorization": f"ApiKey {fake.api_key}", "Api-Version": "v1"}


async def call(
    http: aiohttp.ClientSession, method: str, url: str | URL, **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, url, **kwargs) as answer:
        body = await answer.read()
        return answer.status, json.loads(body) if body else None


# -- headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 400),  # no Api-Version
        ({"Api-Version": "v2"}, 400),
        ({"Api-Version": "v1"}, 401),  # no key
        ({"Api-Version": "v1", "Authorization": "ApiKey wrong"}, 401),
    ],
)
async def test_iam_requires_version_and_key(
    fake: FakeCloudOne, http: aiohttp.ClientSession, headers: dict[str, str], status: int
) -> None:
    answered, body = await call(http, "GET", f"{fake.accounts_url}/users", headers=headers)
    assert answered == status
    assert body["message"]


async def test_legacy_key_only_for_workload_and_never_with_another(
    fake: FakeCloudOne, http: aiohttp.ClientSession
) -> None:
    legacy = {"api-secret-key": fake.legacy_api_key, "Api-Version": "v1"}
    assert (await call(http, "GET", f"{fake.workload_url}/roles", headers=legacy))[0] == 200
    assert (await call(http, "GET", f"{fake.accounts_url}/users", headers=legacy))[0] == 401
    both = legacy | {"Authorization": f"ApiKey {fake.api_key}"}
    assert (await call(http, "GET", f"{fake.workload_url}/roles", headers=both))[0] == 400


async def test_a_body_needs_json_content_type(
    fake: FakeCloudOne, http: aiohttp.ClientSession
) -> None:
    user_id = next(iter(fake.users))
    status, _ = await call(
        http, "POST", f"{fake.accounts_url}/users/{user_id}", headers=iam_headers(fake),
        data=b'{"state": "disabled"}',
    )  # fmt: skip
    assert status == 415


# -- IAM paging ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "status", "count"), [("0", 200, 25), ("-1", 400, 0), ("x", 400, 0)]
)
async def test_limit_rules(
    fake: FakeCloudOne, http: aiohttp.ClientSession, limit: str, status: int, count: int
) -> None:
    answered, body = await call(
        http,
        "GET",
        f"{fake.accounts_url}/users",
        headers=iam_headers(fake),
        params={"limit": limit},
    )
    assert answered == status
    if status == 200:
        assert len(body["users"]) == count


async def test_a_cursor_sent_without_url_encoding_is_refused(
    fake: FakeCloudOne, http: aiohttp.ClientSession
) -> None:
    _, first = await call(http, "GET", f"{fake.accounts_url}/users", headers=iam_headers(fake))
    cursor = first["next"]
    assert set("+/=") <= set(cursor)
    raw = URL(f"{fake.accounts_url}/users?cursor={cursor}", encoded=True)
    assert (await call(http, "GET", raw, headers=iam_headers(fake)))[0] == 400


@given(created=st.text(max_size=30), user_id=st.text(max_size=40))
def test_cursors_round_trip(created: str, user_id: str) -> None:
    cursor = encode_cursor((created, user_id))
    assert set("+/=") <= set(cursor)
    assert decode_cursor(cursor) == (created, user_id)


@pytest.mark.parametrize("cursor", ["", "abc", "+/+/", "eyJhIjoxfQ=="])
def test_foreign_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(Refused):
        decode_cursor(cursor)


# -- the other IAM collections -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/apikeys", {"alias": "no role"}, 400, "Required: roleID."),
        ("POST", "/apikeys", {"roleID": "x", "secret": "mine"}, 400, "Cannot set: secret."),
        ("POST", "/apikeys", {"roleID": "x", "enabled": "yes"}, 400, "enabled must be"),
        ("POST", "/roles", {"name": "No URNs"}, 400, "Required: serviceRoleURNs."),
        ("POST", "/invitations", {"email": "nobody", "roleID": "x"}, 400, "email must be"),
        ("POST", "/invitations/abc", {"roleID": "x"}, 405, "Method not allowed."),
        ("POST", "/accounts", {"alias": "x"}, 405, "Method not allowed."),
        ("DELETE", "/accounts/123456789012", None, 405, "Method not allowed."),
        ("GET", "/accounts/1234", None, 400, "Invalid account ID."),
        ("POST", "/users", {"roleID": "x"}, 405, "Method not allowed."),  # users are invited
        ("GET", "/apikeys/a/b", None, 404, "No such resource."),
    ],
)
async def test_iam_collections_refuse_what_the_service_refuses(
    fake: FakeCloudOne,
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    body: Any,
    status: int,
    message: str,
) -> None:
    answered, answer = await call(
        http, method, f"{fake.accounts_url}{path}", headers=iam_headers(fake), json=body
    )
    assert (answered, answer["message"][: len(message)]) == (status, message)


async def test_invitations_are_created_with_201_and_keys_show_their_secret_once(
    fake: FakeCloudOne, http: aiohttp.ClientSession
) -> None:
    url, headers = fake.accounts_url, iam_headers(fake)
    status, invitation = await call(
        http,
        "POST",
        f"{url}/invitations",
        headers=headers,
        json={"email": "a@b.c", "roleID": "auditor"},
    )
    assert status == 201
    assert fake.invitations[invitation["id"]] == invitation
    status, key = await call(
        http, "POST", f"{url}/apikeys", headers=headers, json={"roleID": "auditor"}
    )
    assert status == 200
    # The bare secret, as in the API reference's example (the client prepends `<id>:`).
    assert key["secret"]
    assert ":" not in key["secret"]
    assert "secret" not in fake.api_keys[key["id"]]
    status, described = await call(http, "GET", f"{url}/apikeys/{key['id']}", headers=headers)
    assert (status, "secret" in described) == (200, False)


# -- roles ---------------------------------------------------------------------------------


def roles_with(*names: str) -> RoleStore:
    store = RoleStore()
    for name in names:
        store.create({"name": name, "allComputers": name.startswith("A")})
    return store


@pytest.mark.parametrize(
    "criterion",
    [
        {},
        {"fieldName": "name"},
        {"fieldName": "nope", "stringValue": "x"},
        {"fieldName": "name", "booleanTest": True},
        {"fieldName": "allComputers", "stringValue": "x"},
        {"idTest": "greater-than"},
        {"idTest": "about", "idValue": 1},
        {"fieldName": "name", "stringValue": "x", "numericValue": 1},
    ],
)
def test_malformed_criteria_are_refused(criterion: dict[str, Any]) -> None:
    with pytest.raises(Refused) as refused:
        search_roles(roles_with("Alpha"), {"searchCriteria": [criterion]}, cap=None)
    assert refused.value.status == 400


@given(
    names=st.lists(st.text("abAB%_", min_size=1, max_size=4), min_size=1, max_size=8, unique=True),
    pattern=st.text("abAB%_", min_size=1, max_size=4),
)
def test_string_wildcards_are_sql_like_and_case_insensitive(names: list[str], pattern: str) -> None:
    import re

    store = roles_with(*names)
    found = search_roles(
        store,
        {"searchCriteria": [{"fieldName": "name", "stringValue": pattern}], "sortByObjectID": True},
        cap=None,
    )
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    expected = [r["ID"] for r in store.values() if re.fullmatch(regex, r["name"], re.I | re.S)]
    assert [r["ID"] for r in found] == expected


def test_read_only_and_unknown_role_properties_are_refused() -> None:
    store = roles_with("Alpha")
    for body in ({"name": "B", "ID": 9}, {"name": "B", "urn": "x"}, {"name": "B", "colour": 1}):
        with pytest.raises(Refused):
            store.create(body)


def test_modify_merges_rights_leaf_by_leaf() -> None:
    store = roles_with("Alpha")
    store.modify(1, {"rights": {"a": {"x": True, "y": False}}})
    store.modify(1, {"rights": {"a": {"y": True}, "newer": {"z": True}}})
    assert store[1]["rights"] == {"a": {"x": True, "y": True}, "newer": {"z": True}}


# -- rate limit and faults -----------------------------------------------------------------


def test_the_server_bucket_refuses_without_counting() -> None:
    bucket = ServerBucket(RateLimit(rate=2.0, burst=2))
    assert bucket.admit(0.0) is None
    assert bucket.admit(0.0) is None
    wait = bucket.admit(0.0)
    assert wait == pytest.approx(0.5)
    assert bucket.admit(0.1) is not None  # refused calls took no token...
    assert bucket.admit(0.5) is None  # ...so one is ready after 1 / rate
    assert format_retry_after("seconds", 0.2, 0.0) == "1"  # whole seconds, rounded up


async def test_rate_limit_answers_429_with_retry_after(
    fake: FakeCloudOne, http: aiohttp.ClientSession
) -> None:
    now = [0.0]
    fake.clock = lambda: now[0]
    fake.rate_limit = RateLimit(rate=1, burst=1, retry_after="http-date")
    url = f"{fake.accounts_url}/users"
    assert (await call(http, "GET", url, headers=iam_headers(fake)))[0] == 200
    async with http.get(url, headers=iam_headers(fake)) as answer:
        assert answer.status == 429
        assert answer.headers["Retry-After"].endswith("GMT")
    now[0] = 1.0
    assert (await call(http, "GET", url, headers=iam_headers(fake)))[0] == 200


async def test_faults_apply_in_order_to_matching_requests(
    fake: FakeCloudOne, http: aiohttp.ClientSession
) -> None:
    fake.inject(Fault.status(503, html=True, retry_after="9", path="^/roles$", times=2))
    fake.inject(Fault.status(500, method="DELETE"))
    roles_url = f"{fake.workload_url}/roles"
    headers = iam_headers(fake)
    for _ in range(2):
        async with http.get(roles_url, headers=headers) as answer:
            assert answer.status == 503
            assert answer.content_type == "text/html"
            assert answer.headers["Retry-After"] == "9"
    assert (await call(http, "GET", roles_url, headers=headers))[0] == 200
    assert (await call(http, "GET", f"{fake.accounts_url}/users", headers=headers))[0] == 200
    user_id = next(iter(fake.users))
    deleted = await call(http, "DELETE", f"{fake.accounts_url}/users/{user_id}", headers=headers)
    assert deleted[0] == 500
    assert user_id in fake.users  # not applied: the fault came first
    assert [r.status for r in fake.requests] == [503, 503, 200, 200, 500]


async def test_closing_the_fake_does_not_wait_for_a_delayed_answer() -> None:
    fake = FakeCloudOne(users=1)
    await fake.start()
    fake.inject(Fault.delay(600.0))
    arrived = asyncio.Event()
    fake.before_request.append(lambda _: arrived.set())
    async with aiohttp.ClientSession() as http:
        pending = asyncio.ensure_future(http.get(f"{fake.accounts_url}/users"))
        await asyncio.wait_for(arrived.wait(), timeout=30)
        # A close that waited for the answer would take 600 s: the bound fails it first.
        await asyncio.wait_for(fake.close(), timeout=30)
        with contextlib.suppress(aiohttp.ClientError):
            answer = await asyncio.wait_for(pending, timeout=30)
            answer.release()


def test_seeded_accounts_are_the_same_however_often_they_are_made() -> None:
    first = FakeCloudOne(users=20, api_keys=5, seed=4)
    again = FakeCloudOne(users=20, api_keys=5, seed=4)
    other = FakeCloudOne(users=20, api_keys=5, seed=5)
    assert first.users == again.users
    assert first.api_keys == again.api_keys
    assert first.users != other.users


def test_shapes_parse_from_the_command_line() -> None:
    assert parse_sliding_window("500/60") == (500, 60.0)
    assert parse_maintenance("2:4") == (2.0, 4.0)
    for bad in ("500", "x/60", "0/60", "5/0"):
        with pytest.raises(ValueError, match="CALLS"):
            parse_sliding_window(bad)
    for bad in ("2", "a:4", "-1:4", "2:0"):
        with pytest.raises(ValueError, match="START"):
            parse_maintenance(bad)


def test_the_sliding_window_refuses_until_its_oldest_call_ages_out() -> None:
    window = RateLimit.sliding_window(calls=3, seconds=6.0).limiter()
    assert [window.admit(t) for t in (0.0, 0.1, 0.2)] == [None, None, None]
    assert window.admit(1.0) == pytest.approx(5.0)  # the call at 0.0 ages out at 6.0
    assert window.admit(5.9) is not None  # refused calls are not counted
    assert window.admit(6.0) is None
    assert window.admit(6.05) is not None


def test_outages_answer_isolated_503s_and_maintenance_windows() -> None:
    outages = Outages(every=3, maintenance=[(2.0, 4.0)])
    assert [outages.unavailable(n, 0.5) is not None for n in range(1, 7)] == [
        False, False, True, False, False, True,
    ]  # fmt: skip
    # In the window every request is 503, with the seconds left, rounded up.
    assert outages.unavailable(1, 2.5) == ("4", False)
    assert outages.unavailable(1, 5.5) == ("1", False)
