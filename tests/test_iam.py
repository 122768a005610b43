"""What every IAM collection shares (`c1iam/resources/_iam.py`), for each of them.

Users, API keys, Cloud One roles, invitations and the account all go through one
`IamCollection`; these tests hold each of them to the same conventions over HTTP.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest

import c1iam
from c1iam._converter import structure
from c1iam.testing import FakeCloudOne, Fault
from c1iam.testing._state import IamStore
from tests.conftest import requests_to

pytestmark = pytest.mark.anyio


@attrs.frozen
class Collection:
    """One IAM collection: where it lives in the session, the fake and the URL."""

    attribute: str  # session.<attribute>
    store: str  # fake.<store>
    model: type[Any]
    path: str
    absent_id: str  # well-formed, but not in the fake

    def group(self, session: c1iam.Session) -> Any:
        return getattr(session, self.attribute)

    def items(self, fake: FakeCloudOne) -> IamStore:
        store: IamStore = getattr(fake, self.store)
        return store


USERS = Collection("users", "users", c1iam.User, "/users", "cc401d8f-7920-4d03-9e48-ce8ef79b4835")
API_KEYS = Collection(
    "api_keys", "api_keys", c1iam.ApiKey, "/apikeys", "NoSuchKey0000000000000000000"
)
ROLES = Collection("roles", "cloud_one_roles", c1iam.CloudOneRole, "/roles", "no-such-role")
INVITATIONS = Collection(
    "invitations", "invitations", c1iam.Invitation, "/invitations", "no-such-invitation"
)
ACCOUNTS = Collection("accounts", "accounts", c1iam.Account, "/accounts", "000000000000")

LISTED = [USERS, API_KEYS, ROLES, INVITATIONS]
OPAQUE_IDS = [API_KEYS, ROLES, INVITATIONS]


def ids(collections: list[Collection]) -> list[str]:
    return [collection.attribute for collection in collections]


@pytest.mark.parametrize("collection", LISTED, ids=ids(LISTED))
async def test_list_yields_every_item_exactly_once_as_stored(
    fake: FakeCloudOne, session: c1iam.Session, collection: Collection
) -> None:
    fake.iam_page_cap = 4  # the server pages less than asked: the stream still gets all
    listed = await collection.group(session).list(page_size=7).collect()
    stored = collection.items(fake)
    assert sorted(item.id for item in listed) == sorted(stored)
    assert all(item == structure(stored[item.id], collection.model) for item in listed)
    pages = requests_to(fake, "GET", collection.path)
    assert len(pages) == max(1, -(-len(stored) // 4))
    assert {request.query["limit"] for request in pages} == {"7"}


@pytest.mark.parametrize("collection", LISTED, ids=ids(LISTED))
async def test_list_resumes_from_a_page_cursor(
    fake: FakeCloudOne, session: c1iam.Session, collection: Collection
) -> None:
    stream = collection.group(session).list(page_size=2)
    first = await anext(aiter(stream.pages()))
    assert first.cursor is not None
    rest = await collection.group(session).list(page_size=2, cursor=first.cursor).collect()
    listed = [item.id for item in [*first.items, *rest]]
    assert sorted(listed) == sorted(collection.items(fake))


@pytest.mark.parametrize("collection", [*LISTED, ACCOUNTS], ids=ids([*LISTED, ACCOUNTS]))
async def test_describe_gives_the_stored_item_and_not_found_for_an_absent_one(
    fake: FakeCloudOne, session: c1iam.Session, collection: Collection
) -> None:
    item_id, wire = next(iter(collection.items(fake).items()))
    described = await collection.group(session).describe(item_id)
    assert described == structure(wire, collection.model)
    with pytest.raises(c1iam.NotFound) as raised:
        await collection.group(session).describe(collection.absent_id)
    assert raised.value.status == 404
    assert [request.status for request in fake.requests] == [200, 404]


BAD_OPAQUE_IDS = ["", ".", "..", "../users", "a/b", "a b", "a?b=c", "é", "x" * 129, "-x", 42, None]


# A Cloud One role ID follows the reference's rule, ^[a-z0-9-]+$: "-x" and a long one pass it.
BAD_ROLE_IDS = [bad for bad in BAD_OPAQUE_IDS if bad not in ("-x", "x" * 129)] + ["Full-Access"]


@pytest.mark.parametrize(
    ("collection", "bad_id"),
    [
        pytest.param(collection, bad_id, id=f"{collection.attribute}-{bad_id!r:.20}")
        for collection in OPAQUE_IDS
        for bad_id in (BAD_ROLE_IDS if collection is ROLES else BAD_OPAQUE_IDS)
    ],
)
async def test_ids_that_could_leave_their_path_are_refused_before_sending(
    fake: FakeCloudOne, session: c1iam.Session, collection: Collection, bad_id: Any
) -> None:
    group = collection.group(session)
    with pytest.raises(c1iam.InvalidArgument, match=r"_id must be"):
        await group.describe(bad_id)
    with pytest.raises(ValueError, match=r"_id must be"):
        await group.delete(bad_id)
    assert fake.requests == []


@pytest.mark.parametrize("collection", OPAQUE_IDS, ids=ids(OPAQUE_IDS))
async def test_delete_removes_the_item_once(
    fake: FakeCloudOne, session: c1iam.Session, collection: Collection
) -> None:
    item_id = next(iter(collection.items(fake)))
    await collection.group(session).delete(item_id)
    assert item_id not in collection.items(fake)
    with pytest.raises(c1iam.NotFound):
        await collection.group(session).delete(item_id)


# What each creatable collection needs to make one item.
CREATIONS: list[tuple[Collection, dict[str, Any]]] = [
    (API_KEYS, {"role_id": "read-only", "alias": "created"}),
    (ROLES, {"name": "Created", "service_role_urns": ["urn:cloudone:identity::role/x"]}),
    (INVITATIONS, {"email": "created@example.com", "role_id": "auditor"}),
]
CREATION_IDS = [collection.attribute for collection, _ in CREATIONS]


@pytest.mark.parametrize(("collection", "arguments"), CREATIONS, ids=CREATION_IDS)
async def test_a_create_is_never_sent_twice_after_an_ambiguous_failure(
    fake: FakeCloudOne, session: c1iam.Session, collection: Collection, arguments: dict[str, Any]
) -> None:
    fake.inject(Fault.status(500, method="POST", path=f"^{collection.path}$", after=True))
    count = len(collection.items(fake))
    with pytest.raises(c1iam.ServerError):
        await collection.group(session).create(**arguments)
    assert len(collection.items(fake)) == count + 1  # the server did create it, once
    assert len(requests_to(fake, "POST", collection.path)) == 1


@pytest.mark.parametrize(("collection", "arguments"), CREATIONS, ids=CREATION_IDS)
async def test_a_create_refused_with_429_is_retried_and_made_once(
    fake: FakeCloudOne, session: c1iam.Session, collection: Collection, arguments: dict[str, Any]
) -> None:
    fake.inject(Fault.status(429, method="POST", path=f"^{collection.path}$", retry_after="0"))
    count = len(collection.items(fake))
    created = await collection.group(session).create(**arguments)
    assert len(collection.items(fake)) == count + 1
    assert created == structure(collection.items(fake)[created.id], collection.model)
    statuses = [r.status for r in requests_to(fake, "POST", collection.path)]
    assert statuses[0] == 429
    assert 200 <= statuses[1] < 300
    assert len(statuses) == 2


MODIFIABLE = [USERS, API_KEYS, ROLES, ACCOUNTS]


@pytest.mark.parametrize("collection", MODIFIABLE, ids=ids(MODIFIABLE))
async def test_a_modify_with_nothing_to_change_is_refused_before_sending(
    fake: FakeCloudOne, session: c1iam.Session, collection: Collection
) -> None:
    item_id = next(iter(collection.items(fake)))
    with pytest.raises(c1iam.InvalidArgument, match="modify needs at least one of"):
        await collection.group(session).modify(item_id)
    assert fake.requests == []


@pytest.mark.parametrize("collection", [*LISTED, ACCOUNTS], ids=ids([*LISTED, ACCOUNTS]))
async def test_every_collection_speaks_to_the_iam_api_with_its_headers(
    fake: FakeCloudOne, session: c1iam.Session, collection: Collection
) -> None:
    await collection.group(session).describe(next(iter(collection.items(fake))))
    (request,) = fake.requests
    assert request.api == "accounts"
    assert request.headers["Authorization"] == f"ApiKey {fake.api_key}"
    assert request.headers["Api-Version"] == "v1"
