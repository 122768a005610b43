"""Invitations to join a Cloud One account."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import attrs

__all__ = ["Invitation", "InvitationRequest", "InvitationState"]

InvitationState = Literal["invited"]
"""The state the API reference's examples show for an invitation. Its other states are not
documented: they are read as the strings the server sends."""


@attrs.frozen(kw_only=True)
class Invitation:
    """An invitation, sent by email, to join the account with a role."""

    id: str
    email: str | None = None
    role_id: str | None = None
    state: InvitationState | str | None = None
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
