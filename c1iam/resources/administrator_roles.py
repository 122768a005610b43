"""`session.administrator_roles`: Workload Security / Deep Security administrator roles.

Operations and schemas: ../shared/specs/workload-administrator-roles.openapi.json.
"""

from __future__ import annotations

from typing import Any

from .._converter import structure, structurer, unstructure
from .._errors import InvalidArgument, ProtocolError
from .._sansio import Api, Call, expect_object, path
from .._streams import IdPager, Stream
from ..models.administrator_roles import AdministratorRole
from ..models.criteria import Criterion
from ._base import Requester, check_int32_id

__all__ = ["AdministratorRoles"]


def _role_body(role: AdministratorRole, *, operation: str) -> dict[str, Any]:
    if not isinstance(role, AdministratorRole):
        raise InvalidArgument(f"{operation} takes a c1iam.AdministratorRole, got {role!r}")
    # Only fields with a value, and never the read-only ID, urn and immutable.
    body: dict[str, Any] = unstructure(role)
    return body


class AdministratorRoles:
    """List, create, search, describe, modify and delete administrator roles."""

    def __init__(self, session: Requester) -> None:
        self._session = session

    async def list(self) -> list[AdministratorRole]:
        """Every administrator role, in one answer (`GET /roles`)."""
        data = expect_object(
            await self._session._request(Call(api=Api.WORKLOAD, method="GET", path="/roles")),
            "a list of roles",
        )
        roles = data.get("roles")
        if not isinstance(roles, list):
            raise ProtocolError("expected a list of roles under 'roles'")
        return [structure(role, AdministratorRole) for role in roles]

    async def create(self, role: AdministratorRole) -> AdministratorRole:
        """Create a role (it needs a `name`); the server's copy, with its new ID.

        A create is never sent twice unless the server said it did not process it.
        """
        body = _role_body(role, operation="create")
        if not body.get("name"):
            raise InvalidArgument("a new administrator role needs a name")
        call = Call(api=Api.WORKLOAD, method="POST", path="/roles", json=body, idempotent=False)
        return structure(await self._session._request(call), AdministratorRole)

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
        return self._session._stream(pager, structurer(AdministratorRole))

    async def describe(self, role_id: int) -> AdministratorRole:
        """One role; `NotFound` if there is none with this ID."""
        call = _role_call("GET", role_id)
        return structure(await self._session._request(call), AdministratorRole)

    async def modify(self, role_id: int, role: AdministratorRole) -> AdministratorRole:
        """Change the fields of `role` that have a value; the others are left as they are."""
        check_int32_id("role_id", role_id)  # the ID's error first, as for every call
        body = _role_body(role, operation="modify")
        if not body:
            raise InvalidArgument("modify needs a role with at least one field to change")
        call = _role_call("POST", role_id, json=body)
        return structure(await self._session._request(call), AdministratorRole)

    async def delete(self, role_id: int) -> None:
        """Delete a role; `NotFound` if there is none with this ID."""
        await self._session._request(_role_call("DELETE", role_id))


def _role_call(method: str, role_id: int, *, json: Any = None) -> Call:
    """A call on `/roles/<id>` (the ID checked first), its route `/roles/{id}` for traces."""
    role_path = path("roles", str(check_int32_id("role_id", role_id)))
    return Call(api=Api.WORKLOAD, method=method, path=role_path, json=json, route="/roles/{id}")
