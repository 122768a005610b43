"""`session.administrator_roles` over HTTP against the fake server.

Every request the client sends to the workload API is validated against the public
OpenAPI spec (its copy in tests/data) with openapi-core.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest

import c1iam
from c1iam import AdministratorRole, Criterion
from c1iam._converter import structure
from c1iam.testing import FakeCloudOne, Fault

pytestmark = pytest.mark.anyio

SPEC_PATH = Path(__file__).parent / "data" / "workload-administrator-roles.openapi.json"
SPEC = OpenAPI.from_dict(json.loads(SPEC_PATH.read_text()))
# The spec's server URL; the fake's base URL stands in for it.
SPEC_HOST = "https://workload.us-1.cloudone.trendmicro.com"


def assert_requests_match_the_spec(fake: FakeCloudOne) -> int:
    """Validate every workload request the fake received; return how many."""
    checked = 0
    for request in fake.requests:
        if request.api != "workload":
            continue
        body = None if request.body is None else json.dumps(request.body).encode()
        SPEC.validate_request(
            MockRequest(
                SPEC_HOST,
                request.method.lower(),
                "/api" + request.path,
                headers=dict(request.headers),
                data=body,
            )
        )
        checked += 1
    return checked


@pytest.fixture
async def roles_session(fake: FakeCloudOne) -> AsyncIterator[c1iam.Session]:
    async with c1iam.Session(fake.api_key, workload_url=fake.workload_url) as session:
        yield session


def a_mutable_role(fake: FakeCloudOne) -> int:
    return next(i for i, r in fake.roles.items() if not r["immutable"])


async def test_list(fake: FakeCloudOne, roles_session: c1iam.Session) -> None:
    roles = await roles_session.administrator_roles.list()
    assert {r.id: r for r in roles} == {
        i: structure(wire, AdministratorRole) for i, wire in fake.roles.items()
    }
    assert assert_requests_match_the_spec(fake) == 1


async def test_create_sends_no_read_only_field(
    fake: FakeCloudOne, roles_session: c1iam.Session
) -> None:
    template = structure(fake.roles[a_mutable_role(fake)], AdministratorRole)
    created = await roles_session.administrator_roles.create(
        attrs.evolve(template, name="Copied role", description="made by a test")
    )
    assert created.id is not None
    assert created.id not in {template.id}
    assert fake.roles[created.id]["name"] == "Copied role"
    assert created.rights == template.rights
    sent = fake.requests[-1].body
    assert not {"ID", "urn", "immutable"} & set(sent)
    assert assert_requests_match_the_spec(fake) == 1


async def test_create_needs_a_name(fake: FakeCloudOne, roles_session: c1iam.Session) -> None:
    with pytest.raises(ValueError, match="name"):
        await roles_session.administrator_roles.create(AdministratorRole(description="x"))
    assert fake.requests == []


async def test_describe(fake: FakeCloudOne, roles_session: c1iam.Session) -> None:
    role_id = a_mutable_role(fake)
    role = await roles_session.administrator_roles.describe(role_id)
    assert role == structure(fake.roles[role_id], AdministratorRole)
    with pytest.raises(c1iam.NotFound):
        await roles_session.administrator_roles.describe(2**31 - 1)
    assert assert_requests_match_the_spec(fake) == 2


async def test_modify_sends_only_fields_with_a_value(
    fake: FakeCloudOne, roles_session: c1iam.Session
) -> None:
    role_id = a_mutable_role(fake)
    before = dict(fake.roles[role_id])
    role = await roles_session.administrator_roles.modify(
        role_id, AdministratorRole(description="changed")
    )
    assert fake.requests[-1].body == {"description": "changed"}
    assert role.description == "changed"
    assert role.name == before["name"]
    assert assert_requests_match_the_spec(fake) == 1


async def test_read_modify_write_keeps_unknown_rights(
    fake: FakeCloudOne, roles_session: c1iam.Session
) -> None:
    role_id = a_mutable_role(fake)
    fake.roles[role_id]["rights"] = {
        "platformRights": {"computerRights": {"canEditComputerProperties": True}},
        "rightsFromANewerManager": {"canDoNewThings": True, "nested": {"deep": False}},
    }
    role = await roles_session.administrator_roles.describe(role_id)
    assert role.rights is not None
    await roles_session.administrator_roles.modify(
        role_id, attrs.evolve(role, description="round trip")
    )
    assert fake.requests[-1].body["rights"] == fake.roles[role_id]["rights"]
    assert fake.roles[role_id]["rights"]["rightsFromANewerManager"] == {
        "canDoNewThings": True,
        "nested": {"deep": False},
    }


async def test_modify_of_an_immutable_role_is_a_bad_request(
    fake: FakeCloudOne, roles_session: c1iam.Session
) -> None:
    immutable = next(i for i, r in fake.roles.items() if r["immutable"])
    with pytest.raises(c1iam.BadRequest):
        await roles_session.administrator_roles.modify(immutable, AdministratorRole(name="x"))


async def test_delete(fake: FakeCloudOne, roles_session: c1iam.Session) -> None:
    role_id = a_mutable_role(fake)
    await roles_session.administrator_roles.delete(str(role_id))  # type: ignore[arg-type]
    assert role_id not in fake.roles
    with pytest.raises(c1iam.NotFound):
        await roles_session.administrator_roles.delete(role_id)
    assert assert_requests_match_the_spec(fake) == 2


@pytest.mark.parametrize("role_id", [0, -1, 2**31, "12a", "1/2", " 3", True, 1.0, None, "٣"])
async def test_bad_role_ids_are_refused_before_sending(
    fake: FakeCloudOne, roles_session: c1iam.Session, role_id: Any
) -> None:
    with pytest.raises(ValueError, match="role_id must be"):
        await roles_session.administrator_roles.describe(role_id)
    with pytest.raises(ValueError, match="role_id must be"):
        await roles_session.administrator_roles.delete(role_id)
    assert fake.requests == []


def _like(pattern: str, value: str) -> bool:
    # The SQL-like wildcards of stringWildcards: % any run, _ one character.
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.IGNORECASE | re.DOTALL) is not None


async def test_search_without_criteria_lists_every_role_in_id_order(
    fake: FakeCloudOne, roles_session: c1iam.Session
) -> None:
    roles = await roles_session.administrator_roles.search(page_size=5).collect()
    assert [r.id for r in roles] == sorted(fake.roles)
    assert assert_requests_match_the_spec(fake) >= 3


async def test_search_with_criteria(fake: FakeCloudOne, roles_session: c1iam.Session) -> None:
    pattern = fake.roles[a_mutable_role(fake)]["name"][:2] + "%"
    found = await roles_session.administrator_roles.search(
        Criterion.string("name", pattern), Criterion.boolean("immutable", False), page_size=3
    ).collect()
    expected = sorted(
        i for i, r in fake.roles.items() if _like(pattern, r["name"]) and not r["immutable"]
    )
    assert expected, "the seed should give this pattern a match"
    assert [r.id for r in found] == expected
    assert assert_requests_match_the_spec(fake) >= 1


async def test_search_id_criterion_combines_with_paging(
    fake: FakeCloudOne, roles_session: c1iam.Session
) -> None:
    found = await roles_session.administrator_roles.search(
        Criterion.id(">=", 3), Criterion.id("!=", 5), page_size=2
    ).collect()
    assert [r.id for r in found] == sorted(i for i in fake.roles if i >= 3 and i != 5)


async def test_search_follows_a_server_cap_on_max_items(
    fake: FakeCloudOne, roles_session: c1iam.Session
) -> None:
    fake.search_page_cap = 4
    roles = await roles_session.administrator_roles.search(page_size=10).collect()
    assert [r.id for r in roles] == sorted(fake.roles)


async def test_search_pages_resume(fake: FakeCloudOne, roles_session: c1iam.Session) -> None:
    pages = roles_session.administrator_roles.search(page_size=5).pages()
    first = await anext(aiter(pages))
    await pages.aclose()  # type: ignore[attr-defined]
    assert first.cursor == str(first.items[-1].id)
    rest = await roles_session.administrator_roles.search(cursor=first.cursor).collect()
    assert [r.id for r in first.items + rest] == sorted(fake.roles)


async def test_search_refuses_what_is_not_a_criterion(roles_session: c1iam.Session) -> None:
    with pytest.raises(ValueError, match="Criterion"):
        roles_session.administrator_roles.search({"fieldName": "name"})  # type: ignore[arg-type]


async def test_legacy_auth_sends_only_the_secret_key_header(fake: FakeCloudOne) -> None:
    async with c1iam.Session(
        fake.legacy_api_key, workload_url=fake.workload_url, legacy_auth=True
    ) as session:
        await session.administrator_roles.list()
        with pytest.raises(ValueError, match="legacy"):
            await session.users.describe("cc401d8f-7920-4d03-9e48-ce8ef79b4835")
    (request,) = fake.requests
    assert request.headers["api-secret-key"] == fake.legacy_api_key
    assert "Authorization" not in request.headers
    assert request.headers["Api-Version"] == "v1"


async def test_a_create_is_never_sent_twice_after_an_ambiguous_failure(
    fake: FakeCloudOne, roles_session: c1iam.Session
) -> None:
    fake.inject(Fault.status(500, method="POST", path="^/roles$", after=True))
    count = len(fake.roles)
    with pytest.raises(c1iam.ServerError):
        await roles_session.administrator_roles.create(AdministratorRole(name="Once"))
    assert len(fake.roles) == count + 1  # the server did create it, once
    assert sum(1 for r in fake.requests if r.method == "POST") == 1


async def test_a_create_refused_with_429_is_retried(fake: FakeCloudOne) -> None:
    fake.inject(Fault.status(429, method="POST", path="^/roles$", retry_after="0"))
    async with c1iam.Session(fake.api_key, workload_url=fake.workload_url) as session:
        created = await session.administrator_roles.create(AdministratorRole(name="Retried"))
    assert fake.roles[created.id]["name"] == "Retried"  # type: ignore[index]
    assert [r.status for r in fake.requests] == [429, 200]


_RIGHT_AS_A_STRING: Any = {"computerRights": {"canEditComputerProperties": "yes"}}


@pytest.mark.parametrize(
    "role",
    [
        AdministratorRole(name="audit", all_computers="yes"),  # type: ignore[arg-type]
        AdministratorRole(name=5),  # type: ignore[arg-type]
        AdministratorRole(name="audit", computer_ids=[1, "a"]),  # type: ignore[list-item]
        AdministratorRole(name="audit", policy_ids=(0,)),
        AdministratorRole(name="audit", rights=_RIGHT_AS_A_STRING),
        AdministratorRole(name="   "),
    ],
    ids=["bool-as-str", "name-as-int", "ids-with-a-str", "id-zero", "right-as-str", "blank-name"],
)
async def test_a_bad_role_is_refused_before_it_is_sent(
    fake: FakeCloudOne, session: c1iam.Session, role: AdministratorRole
) -> None:
    # A value the server does not expect may still create the role (the fake, as a real
    # manager might, took `"yes"` for a boolean): the caller would see a failure for a
    # role that exists, and a retry would create it twice.
    roles_before = dict(fake.roles)
    with pytest.raises(c1iam.InvalidArgument, match="AdministratorRole"):
        await session.administrator_roles.create(role)
    with pytest.raises(c1iam.InvalidArgument, match="AdministratorRole"):
        await session.administrator_roles.modify(next(iter(fake.roles)), role)
    assert fake.requests == []
    assert fake.roles == roles_before


def test_every_field_a_role_sends_is_checked() -> None:
    from c1iam.resources.administrator_roles import _ROLE_CHECKS

    never_sent = {"id", "urn", "immutable"}
    fields = {field.name for field in attrs.fields(AdministratorRole)}
    assert set(_ROLE_CHECKS) == fields - never_sent
