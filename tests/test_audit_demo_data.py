"""The fake's seeded data: consistent with itself and with the APIs it stands for."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from c1iam.testing import FakeCloudOne
from c1iam.testing._seed import seed_api_keys, seed_invitations, seed_roles, seed_users

pytestmark = pytest.mark.anyio

SPEC = Path(__file__).resolve().parent / "data" / "workload-administrator-roles.openapi.json"


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_activity_never_comes_before_creation() -> None:
    for item in (*seed_users(2000, 7), *seed_api_keys(300, 7)):
        assert stamp(item["lastModified"]) >= stamp(item["created"])
        if item["lastActivity"] is not None:
            assert stamp(item["lastActivity"]) >= stamp(item["created"]), item


def _check_rights(tree: dict[str, Any], schema_name: str, schemas: dict[str, Any]) -> int:
    """Every key of `tree` is a property of the schema; returns the leaves checked."""
    properties = schemas[schema_name]["properties"]
    leaves = 0
    for key, value in tree.items():
        assert key in properties, f"{key} is not in {schema_name}"
        if isinstance(value, dict):
            leaves += _check_rights(value, properties[key]["$ref"].rsplit("/", 1)[1], schemas)
        else:
            assert properties[key]["type"] == "boolean"
            leaves += 1
    return leaves


def test_seeded_rights_use_only_keys_of_the_api_schema() -> None:
    schemas = json.loads(SPEC.read_text())["components"]["schemas"]
    leaves = sum(_check_rights(role["rights"], "rights", schemas) for role in seed_roles(200, 7))
    assert leaves > 1000


def test_invitations_and_locales_use_the_documented_values() -> None:
    invitations = list(seed_invitations(12, 7))
    assert {invitation["state"] for invitation in invitations} == {"invited"}
    assert all(len(i["id"]) == 32 and i["id"] == i["id"].upper() for i in invitations)
    assert invitations[0]["roleID"] == "full-access"
    assert all(stamp(i["expiry"]) > stamp(i["created"]) for i in invitations)
    locales = {user["locale"] for user in seed_users(200, 7)}
    assert locales <= {"en", "ja", "de", "fr"}
    assert "en" in locales


async def test_the_fake_accepts_only_roles_that_exist() -> None:
    async with FakeCloudOne(users=3, api_keys=1, seed=3) as fake:
        headers = {"Authorization": f"ApiKey {fake.api_key}", "Api-Version": "v1"}
        user_id, key_id = next(iter(fake.users)), next(iter(fake.api_keys))
        attempts = [
            (f"{fake.accounts_url}/users/{user_id}", {"roleID": "no-such-role"}),
            (f"{fake.accounts_url}/apikeys/{key_id}", {"roleID": "no-such-role"}),
            (f"{fake.accounts_url}/apikeys", {"roleID": "no-such-role"}),
            (f"{fake.accounts_url}/invitations", {"email": "a@b.c", "roleID": "no-such-role"}),
        ]
        async with aiohttp.ClientSession(headers=headers) as http:
            for url, body in attempts:
                async with http.post(url, json=body) as answer:
                    assert answer.status == 400, url
                    assert "no-such-role" in (await answer.json())["message"]
            async with http.post(
                f"{fake.accounts_url}/users/{user_id}", json={"roleID": "auditor"}
            ) as answer:
                assert answer.status == 200
        assert fake.users[user_id]["roleID"] == "auditor"
