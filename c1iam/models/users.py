"""Cloud One IAM users."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import attrs

__all__ = ["User", "UserChanges", "UserState"]

UserState = Literal["enabled", "disabled"]
"""The states the API reference documents for a user."""


@attrs.frozen(kw_only=True)
class User:
    """A user of a Cloud One account.

    `state` is "enabled" or "disabled" (a value the reference does not document is kept as
    the server sends it, hence `| str`);
    timestamps are aware UTC datetimes, any of them may be `None`.
    """

    id: str
    name: str | None = None
    email: str | None = None
    role_id: str | None = None
    locale: str | None = None
    timezone: str | None = None
    state: UserState | str | None = None
    mfa_enabled: bool | None = None
    created: datetime | None = None
    last_modified: datetime | None = None
    last_activity: datetime | None = None
    urn: str | None = None


@attrs.frozen(kw_only=True)
class UserChanges:
    """The body of a user modification: only fields that are not `None` are sent."""

    role_id: str | None = None
    state: UserState | None = None
