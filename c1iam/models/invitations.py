"""Invitations to join a Cloud One account."""

from __future__ import annotations

from datetime import datetime

import attrs

__all__ = ["Invitation", "InvitationRequest"]


@attrs.frozen(kw_only=True)
class Invitation:
    """An invitation, sent by email, to join the account with a role."""

    id: str
    email: str | None = None
    role_id: str | None = None
    state: str | None = None
    created: datetime | None = None
    last_modified: datetime | None = None
    expiry: datetime | None = None
    last_sent: datetime | None = None
    urn: str | None = None


@attrs.frozen(kw_only=True)
class InvitationRequest:
    """The body of an invitation: both fields are required."""

    email: str
    role_id: str
