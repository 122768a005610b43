"""Cloud One roles (IAM), not to be confused with Workload Security administrator roles."""

from __future__ import annotations

from datetime import datetime

import attrs

__all__ = ["CloudOneRole", "CloudOneRoleChanges"]


@attrs.frozen(kw_only=True)
class CloudOneRole:
    """A Cloud One role, such as "full-access", granting service roles by their URNs."""

    id: str
    name: str | None = None
    description: str | None = None
    service_role_urns: tuple[str, ...] | None = None
    created: datetime | None = None
    last_modified: datetime | None = None
    urn: str | None = None


@attrs.frozen(kw_only=True)
class CloudOneRoleChanges:
    """The body of a role creation or modification: fields that are `None` are not sent."""

    name: str | None = None
    description: str | None = None
    service_role_urns: tuple[str, ...] | None = None
