"""`session.roles` (Cloud One roles) over HTTP against the fake server.

The conventions every IAM collection shares are in `test_iam.py`.
"""

from __future__ import annotations

from typing import Any

import pytest

import c1iam
from c1iam.testing import FakeCloudOne
from tests.conftest import requests_to

pytestmark = pytest.mark.anyio

URN = "urn:cloudone:workload::role/full-access"


async def test_create_and_modify_send_only_the_given_fields(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    created = await session.roles.create(name="Operators", service_role_urns=[URN])
    assert created.service_role_urns == (URN,)
    assert fake.cloud_one_roles[created.id]["name"] == "Operators"
    modified = await session.roles.modify(created.id, description="On call")
    assert (modified.name, modified.description) == ("Operators", "On call")
    first, second = (r.body for r in requests_to(fake, "POST", "/roles"))
    assert first == {"name": "Operators", "serviceRoleURNs": [URN]}
    assert second == {"description": "On call"}


async def test_cloud_one_roles_are_not_administrator_roles(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    listed = {role.id for role in await session.roles.list().collect()}
    assert listed == set(fake.cloud_one_roles)
    assert {r.api for r in fake.requests} == {"accounts"}
    assert "full-access" in listed


@pytest.mark.parametrize(
    "arguments",
    [
        {"service_role_urns": URN},  # one string, not a list
        {"service_role_urns": ["role/full-access"]},
        {"service_role_urns": ["urn:a b"]},
        {"service_role_urns": ["urn:"]},
        {"service_role_urns": ["urn:x\ny"]},
        {"name": ""},
        {"description": " "},
    ],
)
async def test_bad_arguments_are_refused_before_sending(
    fake: FakeCloudOne, session: c1iam.Session, arguments: dict[str, Any]
) -> None:
    name = next(iter(arguments))
    with pytest.raises(c1iam.InvalidArgument, match=name):
        await session.roles.create(**{"name": "R", "service_role_urns": [URN], **arguments})
    with pytest.raises(c1iam.InvalidArgument, match=name):
        await session.roles.modify("full-access", **arguments)
    assert fake.requests == []
