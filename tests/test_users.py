"""`session.users` over HTTP against the fake server."""

from __future__ import annotations

import logging
import uuid
from typing import Any, get_args, get_type_hints

import pytest

import c1iam
import c1iam.resources
from c1iam._converter import structure
from c1iam.models.users import UserState
from c1iam.testing import FakeCloudOne, Fault, RecordedRequest
from tests.conftest import ERROR_CLASSES, requests_to

pytestmark = pytest.mark.anyio


def users_requests(fake: FakeCloudOne, method: str) -> list[RecordedRequest]:
    return requests_to(fake, method, "/users")


async def test_list_yields_every_user_exactly_once(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    users = await session.users.list(page_size=7).collect()
    assert sorted(u.id for u in users) == sorted(fake.users)
    assert len(users_requests(fake, "GET")) == -(-len(fake.users) // 7)


async def test_list_decodes_every_field(fake: FakeCloudOne, session: c1iam.Session) -> None:
    by_id = {u.id: u for u in await session.users.list().collect()}
    for user_id, wire in fake.users.items():
        assert by_id[user_id] == structure(wire, c1iam.User)
        created = by_id[user_id].created
        assert created is not None
        assert created.tzinfo is not None


async def test_list_filters_by_role(fake: FakeCloudOne, session: c1iam.Session) -> None:
    role = next(iter(fake.users.values()))["roleID"]
    listed = [u.id async for u in session.users.list(role_id=role)]
    assert sorted(listed) == sorted(i for i, u in fake.users.items() if u["roleID"] == role)
    assert all(r.query.get("roleID") == role for r in users_requests(fake, "GET"))


async def test_pages_resume_from_their_cursor_in_a_new_session(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    first_page = await anext(aiter(session.users.list(page_size=10).pages()))
    assert first_page.cursor is not None
    # Cursors of the fake hold '+', '/' and '=': they only survive proper URL-encoding.
    async with c1iam.Session(
        fake.api_key, accounts_url=fake.accounts_url, workload_url=fake.workload_url
    ) as other:
        rest = await other.users.list(cursor=first_page.cursor, page_size=10).collect()
    assert sorted([u.id for u in first_page.items] + [u.id for u in rest]) == sorted(fake.users)
    assert users_requests(fake, "GET")[-1].status == 200


async def test_cursors_are_sent_verbatim(fake: FakeCloudOne, session: c1iam.Session) -> None:
    pages = [page async for page in session.users.list(page_size=9).pages()]
    sent = [r.query.get("cursor") for r in users_requests(fake, "GET")]
    assert sent == [None, *[p.cursor for p in pages[:-1]]]
    assert any(c is not None and set(c) & set("+/=") for c in sent)


async def test_max_items_stops_early_and_asks_no_more_than_needed(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    users = await session.users.list(page_size=25, max_items=30).collect()
    assert len(users) == 30
    assert [r.query["limit"] for r in users_requests(fake, "GET")] == ["25", "5"]


async def test_server_page_cap_is_followed(fake: FakeCloudOne, session: c1iam.Session) -> None:
    fake.iam_page_cap = 8
    users = await session.users.list(page_size=50).collect()
    assert sorted(u.id for u in users) == sorted(fake.users)


async def test_users_added_and_removed_between_pages(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    listed: list[str] = []
    pages = session.users.list(page_size=10).pages()
    first = await anext(aiter(pages))
    listed += [u.id for u in first.items]
    removed = next(i for i in fake.users if i not in listed)
    del fake.users[removed]
    added = fake.add_user(email="late@example.com")["id"]
    async for page in pages:
        listed += [u.id for u in page.items]
    assert removed not in listed
    assert len(listed) == len(set(listed))
    assert set(listed) - {added} == set(fake.users) - {added}


async def test_describe(fake: FakeCloudOne, session: c1iam.Session) -> None:
    user_id, wire = next(iter(fake.users.items()))
    user = await session.users.describe(user_id)
    assert user == structure(wire, c1iam.User)


async def test_describe_missing_user_is_not_found(session: c1iam.Session) -> None:
    with pytest.raises(c1iam.NotFound) as raised:
        await session.users.describe(str(uuid.uuid4()))
    assert raised.value.status == 404
    assert raised.value.message


async def test_modify_sends_only_the_given_fields(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    user_id = next(i for i, u in fake.users.items() if u["state"] == "enabled")
    user = await session.users.modify(user_id, state="disabled")
    assert user.state == "disabled"
    assert fake.users[user_id]["state"] == "disabled"
    (sent,) = users_requests(fake, "POST")
    assert sent.body == {"state": "disabled"}
    assert sent.headers["Content-Type"] == "application/json"
    await session.users.modify(user_id, role_id="auditor", state="enabled")
    assert users_requests(fake, "POST")[-1].body == {"roleID": "auditor", "state": "enabled"}


async def test_delete(fake: FakeCloudOne, session: c1iam.Session) -> None:
    user_id = next(iter(fake.users))
    await session.users.delete(user_id)
    assert user_id not in fake.users
    with pytest.raises(c1iam.NotFound):
        await session.users.delete(user_id)


@pytest.mark.parametrize(
    "user_id",
    ["", "not-a-uuid", "../roles", "cc401d8f-7920-4d03-9e48-ce8ef79b483", 42, None],
)
async def test_bad_user_ids_are_refused_before_sending(
    fake: FakeCloudOne, session: c1iam.Session, user_id: Any
) -> None:
    with pytest.raises(ValueError, match="UUID"):
        await session.users.describe(user_id)
    with pytest.raises(c1iam.InvalidArgument):
        await session.users.delete(user_id)
    assert fake.requests == []


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"state": "paused"}, {"state": ["enabled"]}, {"role_id": ""}, {"role_id": "full access"}],
)
async def test_bad_modifications_are_refused_before_sending(
    fake: FakeCloudOne, session: c1iam.Session, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=r"role_id|state"):
        await session.users.modify(next(iter(fake.users)), **kwargs)
    assert fake.requests == []


@pytest.mark.parametrize("kwargs", [{"page_size": 0}, {"max_items": -1}, {"cursor": ""}])
async def test_bad_list_arguments_are_refused_at_once(
    session: c1iam.Session, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=r"page_size|max_items|cursor"):
        session.users.list(**kwargs)


async def test_headers(fake: FakeCloudOne, session: c1iam.Session) -> None:
    await session.users.list().collect()
    await session.users.describe(next(iter(fake.users)))
    for request in fake.requests:
        assert request.headers["Authorization"] == f"ApiKey {fake.api_key}"
        assert request.headers["Api-Version"] == "v1"
        assert "api-secret-key" not in {k.lower() for k in request.headers}
        assert "Content-Type" not in request.headers  # no body, no content type


@pytest.mark.parametrize(("status", "error_class"), ERROR_CLASSES)
async def test_error_statuses(
    fake: FakeCloudOne, status: int, error_class: type[c1iam.APIError]
) -> None:
    fake.inject(Fault.status(status, body={"message": f"scripted {status}"}))
    async with c1iam.Session(
        fake.api_key,
        accounts_url=fake.accounts_url,
        # No retry: attempts end 5xx retries, fail_fast ends 429/503 ones.
        retry=c1iam.RetryPolicy(attempts=1, fail_fast=True),
    ) as session:
        with pytest.raises(error_class) as raised:
            await session.users.describe(next(iter(fake.users)))
    assert type(raised.value) is error_class
    assert raised.value.status == status
    assert raised.value.message == f"scripted {status}"


async def test_html_error_page_gives_a_readable_typed_error(fake: FakeCloudOne) -> None:
    fake.inject(Fault.status(502, html=True))
    async with c1iam.Session(
        fake.api_key, accounts_url=fake.accounts_url, retry=c1iam.RetryPolicy(attempts=1)
    ) as session:
        with pytest.raises(c1iam.ServerError) as raised:
            await session.users.list().collect()
    assert raised.value.status == 502
    assert "<" not in raised.value.message


async def test_wrong_key_is_unauthorized(fake: FakeCloudOne) -> None:
    async with c1iam.Session("wrong:key", accounts_url=fake.accounts_url) as session:
        with pytest.raises(c1iam.Unauthorized):
            await session.users.list().collect()


async def test_the_key_never_reaches_the_logs(
    fake: FakeCloudOne, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.inject(Fault.status(500))
    fake.inject(Fault.status(401, body={"message": "bad key"}))
    async with c1iam.Session(
        fake.api_key,
        accounts_url=fake.accounts_url,
        retry=c1iam.RetryPolicy(backoff_base=0.001),
    ) as session:
        with pytest.raises(c1iam.Unauthorized) as raised:
            await session.users.list().collect()
        await session.users.list().collect()
    secret = fake.api_key.split(":", 1)[1]
    assert caplog.records, "DEBUG logging produced nothing to check"
    assert secret not in caplog.text
    assert secret not in str(raised.value) + repr(raised.value)
    assert "retrying" in caplog.text


async def test_an_upper_case_uuid_is_lower_cased_before_the_url(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    user_id = next(iter(fake.users))
    user = await session.users.describe(user_id.upper())
    assert user.id == user_id
    assert users_requests(fake, "GET")[0].path == f"/users/{user_id}"


async def test_a_state_the_reference_does_not_document_is_still_read(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    user_id = next(iter(fake.users))
    fake.users[user_id]["state"] = "locked"
    assert (await session.users.describe(user_id)).state == "locked"


def test_states_are_typed_by_the_documented_values() -> None:
    hints = get_type_hints(c1iam.resources.Users.modify)
    assert hints["state"] == UserState | None  # mypy refuses state="disbled"
    assert get_args(UserState) == ("enabled", "disabled")
    assert get_type_hints(c1iam.User)["state"] == UserState | str | None  # others still read


async def test_iam_lists_take_few_requests_and_fall_back_when_a_page_size_is_refused(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    for _ in range(2000):
        fake.add_user()
    users = await session.users.list().collect()
    assert len(users) == len(fake.users)
    assert len(requests_to(fake, "GET", "/users")) == 3  # 2,060 users in pages of 1,000
    fake.requests.clear()
    fake.iam_max_limit = 100
    users = await session.users.list().collect()
    assert len(users) == len(fake.users)
    limits = [r.query["limit"] for r in requests_to(fake, "GET", "/users")]
    # 1000 and 200 refused; then pages of 25, the API's documented default.
    assert limits[:3] == ["1000", "200", "25"]
    assert set(limits[2:]) == {"25"}


async def test_a_page_size_the_caller_chose_is_not_changed_behind_their_back(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    fake.iam_max_limit = 100
    with pytest.raises(c1iam.BadRequest):
        await session.users.list(page_size=500).collect()
