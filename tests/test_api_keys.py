"""`session.api_keys` over HTTP against the fake server.

The conventions every IAM collection shares are in `test_iam.py`; here is what is
particular to API keys: the role filter, the one-time secret, address restrictions.
"""

from __future__ import annotations

import copy
import logging
import pickle
from typing import Any

import pytest

import c1iam
from c1iam.testing import FakeCloudOne, Fault
from tests.conftest import requests_to

pytestmark = pytest.mark.anyio


async def test_list_filters_by_role(fake: FakeCloudOne, session: c1iam.Session) -> None:
    role = next(iter(fake.api_keys.values()))["roleID"]
    listed = [key.id async for key in session.api_keys.list(role_id=role, page_size=5)]
    expected = [key_id for key_id, key in fake.api_keys.items() if key["roleID"] == role]
    assert sorted(listed) == sorted(expected)
    assert all(r.query["roleID"] == role for r in requests_to(fake, "GET", "/apikeys"))


async def test_create_sends_the_given_fields_and_returns_the_secret_once(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    created = await session.api_keys.create(
        role_id="auditor",
        alias="nightly-audit",
        enabled=True,
        allowed_ips=["203.0.113.7", "2001:db8::1"],
        allowed_cidrs=("10.0.0.0/8",),
    )
    (sent,) = requests_to(fake, "POST", "/apikeys")
    assert sent.body == {
        "roleID": "auditor",
        "alias": "nightly-audit",
        "enabled": True,
        "allowedIPs": ["203.0.113.7", "2001:db8::1"],
        "allowedCIDRs": ["10.0.0.0/8"],
    }
    assert created.secret is not None
    assert created.secret.reveal().startswith(f"{created.id}:")
    assert "secret" not in fake.api_keys[created.id]  # the service keeps no copy
    described = await session.api_keys.describe(created.id)
    assert described.secret is None
    assert described == created  # the secret takes no part in equality


async def test_a_created_secret_appears_in_no_repr_log_or_pickle(
    session: c1iam.Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await session.api_keys.create(role_id="read-only")
    assert created.secret is not None
    secret = created.secret.reveal()
    shown = [repr(created), str(created), repr(created.secret), f"{created.secret}"]
    assert all(secret not in text and "********" in text for text in shown)
    assert caplog.records, "DEBUG logging produced nothing to check"
    assert secret not in caplog.text
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(created)


async def test_modify_sends_only_the_given_fields_and_an_empty_list_lifts_a_restriction(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    key_id = next(k for k, key in fake.api_keys.items() if key["allowedIPs"])
    modified = await session.api_keys.modify(key_id, allowed_ips=[], enabled=False)
    assert modified.allowed_ips == ()
    assert modified.enabled is False
    assert fake.api_keys[key_id]["allowedIPs"] == []
    (sent,) = requests_to(fake, "POST", "/apikeys/")
    assert sent.body == {"enabled": False, "allowedIPs": []}


@pytest.mark.parametrize(
    "arguments",
    [
        {"allowed_ips": "203.0.113.7"},  # a string, not a list of them
        {"allowed_ips": ["203.0.113.300"]},
        {"allowed_ips": [3405803783]},  # an int that ipaddress would accept
        {"allowed_ips": ["fe80::1%eth0"]},  # a scope names an interface of this machine
        {"allowed_cidrs": ["10.0.0.0/33"]},
        {"allowed_cidrs": ["10.0.0.0/255.0.0.0"]},  # a netmask, not a prefix length
        {"allowed_cidrs": ["10.0.0.1"]},  # no prefix length
        {"allowed_cidrs": ["10.0.0.1/8"]},  # host bits set: which block was meant?
        {"allowed_cidrs": [None]},
        {"enabled": "false"},
        {"enabled": 0},
        {"alias": ""},
        {"alias": "   "},
        {"role_id": "full access"},
    ],
)
async def test_bad_arguments_are_refused_before_sending(
    fake: FakeCloudOne, session: c1iam.Session, arguments: dict[str, Any]
) -> None:
    name = next(iter(arguments))
    with pytest.raises(c1iam.InvalidArgument, match=name):
        await session.api_keys.modify(next(iter(fake.api_keys)), **arguments)
    with pytest.raises(c1iam.InvalidArgument, match=name):
        await session.api_keys.create(**{"role_id": "read-only", **arguments})
    assert fake.requests == []


async def test_an_unreadable_creation_answer_names_the_key_and_never_the_secret(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    secret = "key-id:the-one-time-secret"
    answer = {"id": "key-id", "secret": secret, "enabled": "not a bool"}
    fake.inject(Fault.status(200, body=answer, method="POST", path="^/apikeys$"))
    with pytest.raises(c1iam.ProtocolError, match="enabled") as raised:
        await session.api_keys.create(role_id="read-only")
    message = str(raised.value)
    assert "'key-id' was created" in message  # so that it can be deleted
    assert "secret is lost" in message
    assert secret.split(":")[1] not in message + repr(raised.value)
    assert raised.value.__cause__ is None  # nothing chained that could print the body


async def test_modify_with_nothing_names_only_what_it_takes(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    with pytest.raises(c1iam.InvalidArgument, match="modify needs at least one of") as raised:
        await session.api_keys.modify(next(iter(fake.api_keys)))
    assert "allowed_cidrs=" in str(raised.value)
    assert "locale=" in str(raised.value)
    assert fake.requests == []


def test_a_secret_given_as_a_string_is_still_redacted_and_copies_keep_it() -> None:
    key = c1iam.ApiKey(id="k", secret="k:plain-text-secret")
    assert "plain-text-secret" not in repr(key)
    assert isinstance(key.secret, c1iam.Secret)
    copied = copy.deepcopy(key)
    assert copied.secret is not None
    assert copied.secret.reveal() == "k:plain-text-secret"


@pytest.mark.parametrize(
    ("answered", "usable"),
    [
        ("bare-secret", "key-id:bare-secret"),  # as in the API reference's example
        ("key-id:joined-secret", "key-id:joined-secret"),  # already usable: kept as it is
        ("with:colon", "key-id:with:colon"),  # a colon inside a bare secret is its own
    ],
)
async def test_the_created_secret_is_always_the_value_that_authenticates(
    fake: FakeCloudOne, session: c1iam.Session, answered: str, usable: str
) -> None:
    answer = {"id": "key-id", "secret": answered, "roleID": "read-only"}
    fake.inject(Fault.status(200, body=answer, method="POST", path="^/apikeys$"))
    created = await session.api_keys.create(role_id="read-only")
    assert created.secret is not None
    assert created.secret.reveal() == usable
    assert created.secret.key_id == "key-id"


async def test_the_fakes_created_secret_is_bare_and_joined_by_the_client(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    created = await session.api_keys.create(role_id="read-only")
    assert created.secret is not None
    key_id, _, bare = created.secret.reveal().partition(":")
    assert key_id == created.id
    assert bare
    assert ":" not in bare


async def test_modify_sends_locale_and_timezone(fake: FakeCloudOne, session: c1iam.Session) -> None:
    key_id = next(iter(fake.api_keys))
    modified = await session.api_keys.modify(key_id, locale="ja", timezone="Asia/Tokyo")
    assert (modified.locale, modified.timezone) == ("ja", "Asia/Tokyo")
    assert requests_to(fake, "POST", "/apikeys/")[0].body == {
        "locale": "ja",
        "timezone": "Asia/Tokyo",
    }


@pytest.mark.parametrize("role_id", ["Full-Access", "read_only", "rôle", "a/b", ""])
async def test_role_ids_follow_the_reference_rule(
    fake: FakeCloudOne, session: c1iam.Session, role_id: str
) -> None:
    with pytest.raises(c1iam.InvalidArgument, match=r"role_id must be a Cloud One role ID"):
        await session.api_keys.create(role_id=role_id)
    with pytest.raises(c1iam.InvalidArgument, match=r"role_id must be a Cloud One role ID"):
        session.api_keys.list(role_id=role_id)
    with pytest.raises(c1iam.InvalidArgument, match=r"role_id must be a Cloud One role ID"):
        await session.invitations.create(email="a@example.com", role_id=role_id)
    with pytest.raises(c1iam.InvalidArgument, match=r"role_id must be a Cloud One role ID"):
        await session.users.modify(next(iter(fake.users)), role_id=role_id)
    assert fake.requests == []


async def test_only_the_created_key_has_a_secret(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    # The service shows a secret once, on the create; one found in any other answer is
    # not kept (nor would it be usable as it stands).
    key_id = next(iter(fake.api_keys))
    fake.api_keys[key_id]["secret"] = "bare-secret-value"
    described = await session.api_keys.describe(key_id)
    listed = [key async for key in session.api_keys.list() if key.id == key_id]
    modified = await session.api_keys.modify(key_id, description="rotated")
    assert described.secret is None
    assert listed[0].secret is None
    assert modified.secret is None
