"""`session.invitations`: invitations to a Cloud One account (the IAM API reference, tag
Invitations; the list path is inferred)."""

from __future__ import annotations

from .._arguments import check_email, check_identifier, check_role_id
from ..models.invitations import Invitation, InvitationRequest
from ._iam import Listed

__all__ = ["Invitations"]


class Invitations(Listed[Invitation]):
    """List, create, describe and delete the invitations of a Cloud One account."""

    collection = "invitations"
    items_key = "invitations"
    model = Invitation
    id_name = "invitation_id"
    check_id = staticmethod(check_identifier)

    async def create(self, *, email: str, role_id: str) -> Invitation:
        """Invite `email` to join the account with the role `role_id` (the service answers
        201 and sends the email). Never sent twice after an ambiguous failure."""
        body = InvitationRequest(
            email=check_email("email", email), role_id=check_role_id("role_id", role_id)
        )
        return await self._create(body)

    async def describe(self, invitation_id: str) -> Invitation:
        """One invitation; `NotFound` if there is none with this ID."""
        return await self._describe(invitation_id)

    async def delete(self, invitation_id: str) -> None:
        """Withdraw an invitation; `NotFound` if there is none with this ID."""
        await self._delete(invitation_id)
