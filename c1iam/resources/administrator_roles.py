"""`session.administrator_roles`: Workload Security / Deep Security administrator roles.

Operations and schemas: the OpenAPI spec, a copy of which is kept in
tests/data/workload-administrator-roles.openapi.json.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from .._arguments import check_flag, check_int32_id, check_str, check_text, optional
from .._converter import structurer, unstructure
from .._errors import InvalidArgument, ProtocolError
from .._pagers import IdPager
from .._sansio import Api, Call, expect_items, path
from .._streams import Stream
from ..models.administrator_roles import AdministratorRole
from ..models.criteria import Criterion
from ._base import Requester

__all__ = ["AdministratorRoles"]


def _check_ids(name: str, values: Any) -> tuple[int, ...]:
    """`values` if every one is an ID the spec allows (a positive int32; ints only, as the
    body carries them as they are)."""
    for value in values:
        if isinstance(value, str):
            raise InvalidArgument(f"{name} must hold ints, got {value!r}")
        check_int32_id(name, value)
    return tuple(values)


def _check_rights(name: str, value: Any) -> Any:
    """`value` if it is a rights tree: string keys, each a bool or a tree again."""
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"{name} must be a dict of rights, got {value!r}")
    for key, right in value.items():
        if not isinstance(key, str):
            raise InvalidArgument(f"{name} keys must be strings, got {key!r}")
        if not isinstance(right, bool):
            _check_rights(f"{name}[{key!r}]", right)
    return value


# What each field a role sends must be (the OpenAPI spec's types); `id`, `urn` and
# `immutable` are read-only, never sent.
_ROLE_CHECKS: Final[Mapping[str, Callable[[str, Any], Any]]] = {
    "name": check_text,
    "description": check_str,
    "can_only_manipulate_users_with_equal_or_lesser_rights": check_flag,
    "all_computers": check_flag,
    "all_policies": check_flag,
    "allow_user_interface": check_flag,
    "allow_web_service": check_flag,
    "rights": _check_rights,
    "computer_ids": _check_ids,
    "computer_group_ids": _check_ids,
    "policy_ids": _check_ids,
}


def _role_body(role: AdministratorRole, *, operation: str) -> dict[str, Any]:
    if not isinstance(role, AdministratorRole):
        raise InvalidArgument(f"{operation} takes a c1iam.AdministratorRole, got {role!r}")
    for name, check in _ROLE_CHECKS.items():
        optional(check, f"AdministratorRole.{name}", getattr(role, name))
    # Only fields with a value, and never the read-only ID, urn and immutable.
    body: dict[str, Any] = unstructure(role)
    return body


_structure_role = structurer(AdministratorRole)


def _read_role(data: Any) -> AdministratorRole:
    """A role from the manager: a JSON object (the converter's rule for every model) with
    an ID. Every field of the class is optional, so that it also serves create and
    modify; a role that was read, or has just been created, has an ID."""
    role = _structure_role(data)
    if role.id is None:
        raise ProtocolError("expected an administrator role with an ID, got one without")
    return role


class AdministratorRoles:
    """List, create, search, describe, modify and delete administrator roles."""

    def __init__(self, session: Requester) -> None:
        self._session = session

    async def list(self) -> list[AdministratorRole]:
        """Every administrator role, in one answer (`GET /roles`)."""
        answer = await self._session._request(Call(api=Api.WORKLOAD, method="GET", path="/roles"))
        return [_read_role(role) for role in expect_items(answer, "roles")]

    async def create(self, role: AdministratorRole) -> AdministratorRole:
        """Create a role (it needs a `name`); the server's copy, with its new ID.

        A create is never sent twice unless the server said it did not process it.
        """
        body = _role_body(role, operation="create")
        if not body.get("name"):
            raise InvalidArgument("a new administrator role needs a name")
        call = Call(api=Api.WORKLOAD, method="POST", path="/roles", json=body, idempotent=False)
        return _read_role(await self._session._request(call))

    def search(
        self,
        *criteria: Criterion,
        page_size: int | None = None,
        cursor: str | None = None,
        max_items: int | None = None,
    ) -> Stream[AdministratorRole]:
        """Roles matching every criterion (none: all roles), in ID order, paged by ID.

        `page_size` defaults to 1000.
        """
        for criterion in criteria:
            if not isinstance(criterion, Criterion):
                raise InvalidArgument(f"search criteria must be c1iam.Criterion, got {criterion!r}")
        pager = IdPager(
            path="/roles/search",
            items_key="roles",
            criteria=[unstructure(criterion) for criterion in criteria],
            page_size=page_size,
            cursor=cursor,
            max_items=max_items,
        )
        return self._session._stream(pager, _read_role)

    async def describe(self, role_id: int) -> AdministratorRole:
        """One role; `NotFound` if there is none with this ID."""
        call = _role_call("GET", role_id)
        return _read_role(await self._session._request(call))

    async def modify(self, role_id: int, role: AdministratorRole) -> AdministratorRole:
        """Change the fields of `role` that have a value; the others are left as they are."""
        check_int32_id("role_id", role_id)  # the ID's error first, as for every call
        body = _role_body(role, operation="modify")
        if not body:
            raise InvalidArgument("modify needs a role with at least one field to change")
        call = _role_call("POST", role_id, json=body)
        return _read_role(await self._session._request(call))

    async def delete(self, role_id: int) -> None:
        """Delete a role; `NotFound` if there is none with this ID."""
        await self._session._request(_role_call("DELETE", role_id))


def _role_call(method: str, role_id: int, *, json: Any = None) -> Call:
    """A call on `/roles/<id>` (the ID checked first), its route `/roles/{id}` for traces."""
    role_path = path("roles", str(check_int32_id("role_id", role_id)))
    return Call(api=Api.WORKLOAD, method=method, path=role_path, json=json, route="/roles/{id}")
