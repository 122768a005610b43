"""The Cloud One account."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

__all__ = ["Account", "AccountChanges"]


@attrs.frozen(kw_only=True)
class Account:
    """A Cloud One account (its ID has 12 characters)."""

    id: str
    alias: str | None = None
    locale: str | None = None
    timezone: str | None = None
    region: str | None = None
    # The reference documents no values for an account's state: any string is read.
    state: str | None = None
    mfa_required: bool | None = None
    created: datetime | None = None
    last_entitlement: datetime | None = None
    last_modified: datetime | None = None
    urn: str | None = None
    links: tuple[dict[str, Any], ...] | None = None


@attrs.frozen(kw_only=True)
class AccountChanges:
    """The body of an account modification: fields that are `None` are not sent."""

    alias: str | None = None
    locale: str | None = None
    timezone: str | None = None
    mfa_required: bool | None = None
