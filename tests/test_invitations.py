"""`session.invitations` over HTTP against the fake server.

The conventions every IAM collection shares are in `test_iam.py`.
"""

from __future__ import annotations

from typing import Any

import pytest

import c1iam
from c1iam.resources import Invitations
from c1iam.testing import FakeCloudOne
from tests.conftest import requests_to

pytestmark = pytest.mark.anyio


async def test_create_is_answered_201_and_listed_after(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    invitation = await session.invitations.create(email="new@example.com", role_id="auditor")
    (sent,) = requests_to(fake, "POST", "/invitations")
    assert (sent.status, sent.body) == (201, {"email": "new@example.com", "roleID": "auditor"})
    assert (invitation.email, invitation.role_id) == ("new@example.com", "auditor")
    listed = [item.id async for item in session.invitations.list()]
    assert listed.count(invitation.id) == 1
    assert len(listed) == len(fake.invitations)


@pytest.mark.parametrize(
    "arguments",
    [
        {"email": "no-at-sign", "role_id": "auditor"},
        {"email": "two@@example.com", "role_id": "auditor"},
        {"email": "a@example.com,b@example.com", "role_id": "auditor"},
        {"email": "Ann <a@example.com>", "role_id": "auditor"},
        {"email": "a\x00@example.com", "role_id": "auditor"},
        {"email": "a@example.com", "role_id": ""},
        {"email": None, "role_id": "auditor"},
    ],
)
async def test_bad_invitations_are_refused_before_sending(
    fake: FakeCloudOne, session: c1iam.Session, arguments: dict[str, Any]
) -> None:
    with pytest.raises(c1iam.InvalidArgument, match=r"email|role_id"):
        await session.invitations.create(**arguments)
    assert fake.requests == []


def test_invitations_cannot_be_modified() -> None:
    # The API has no modify for invitations: withdraw one and invite again.
    assert not hasattr(Invitations, "modify")
    assert callable(Invitations.delete)
