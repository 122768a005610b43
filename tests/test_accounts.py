"""`session.accounts` over HTTP against the fake server.

The conventions every IAM collection shares are in `test_iam.py`.
"""

from __future__ import annotations

from typing import Any

import pytest

import c1iam
from c1iam.testing import FakeCloudOne
from tests.conftest import requests_to

pytestmark = pytest.mark.anyio


async def test_modify_sends_only_the_given_fields(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    account_id = next(iter(fake.accounts))
    before = await session.accounts.describe(account_id)
    after = await session.accounts.modify(account_id, mfa_required=True, alias="Production")
    assert (after.mfa_required, after.alias) == (True, "Production")
    assert (after.id, after.region, after.created) == (before.id, before.region, before.created)
    (sent,) = requests_to(fake, "POST", "/accounts/")
    assert sent.body == {"alias": "Production", "mfaRequired": True}


@pytest.mark.parametrize(
    "account_id", ["12345678901", "1234567890123", "../apikeys/x", "12345678901/", 123456789012]
)
async def test_ids_that_are_not_12_characters_are_refused_before_sending(
    fake: FakeCloudOne, session: c1iam.Session, account_id: Any
) -> None:
    with pytest.raises(c1iam.InvalidArgument, match="12-character account ID"):
        await session.accounts.describe(account_id)
    assert fake.requests == []


@pytest.mark.parametrize("arguments", [{"mfa_required": "yes"}, {"alias": ""}, {"timezone": "A B"}])
async def test_bad_changes_are_refused_before_sending(
    fake: FakeCloudOne, session: c1iam.Session, arguments: dict[str, Any]
) -> None:
    with pytest.raises(c1iam.InvalidArgument, match=next(iter(arguments))):
        await session.accounts.modify(next(iter(fake.accounts)), **arguments)
    assert fake.requests == []
