"""`session.roles`: Cloud One roles (the IAM API reference, tag Roles).

Not Workload Security administrator roles: those are `session.administrator_roles`.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._arguments import check_role_id, check_text, check_urns, optional
from ..models.roles import CloudOneRole, CloudOneRoleChanges
from ._iam import Listed

__all__ = ["CloudOneRoles"]


class CloudOneRoles(Listed[CloudOneRole]):
    """List, create, describe, modify and delete the Cloud One roles of an account."""

    collection = "roles"
    items_key = "roles"
    model = CloudOneRole
    id_name = "role_id"
    check_id = staticmethod(check_role_id)

    async def create(
        self,
        *,
        name: str,
        service_role_urns: Sequence[str],
        description: str | None = None,
    ) -> CloudOneRole:
        """A new role granting the service roles `service_role_urns` (`urn:...` strings)."""
        body = CloudOneRoleChanges(
            name=check_text("name", name),
            description=optional(check_text, "description", description),
            service_role_urns=check_urns("service_role_urns", service_role_urns),
        )
        return await self._create(body)

    async def describe(self, role_id: str) -> CloudOneRole:
        """One role, e.g. "full-access"; `NotFound` if there is none with this ID."""
        return await self._describe(role_id)

    async def modify(
        self,
        role_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        service_role_urns: Sequence[str] | None = None,
    ) -> CloudOneRole:
        """Change the given fields of a role (the others are not sent); the role as it is now."""
        changes = CloudOneRoleChanges(
            name=optional(check_text, "name", name),
            description=optional(check_text, "description", description),
            service_role_urns=optional(check_urns, "service_role_urns", service_role_urns),
        )
        return await self._modify(role_id, changes)

    async def delete(self, role_id: str) -> None:
        """Delete a role; `NotFound` if there is none with this ID."""
        await self._delete(role_id)
