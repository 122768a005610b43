"""The models: frozen attrs classes without wire logic (see `c1iam._converter`)."""

from .accounts import Account, AccountChanges
from .administrator_roles import AdministratorRole, Rights
from .api_keys import ApiKey, ApiKeyChanges
from .criteria import Criterion, Operator
from .invitations import Invitation, InvitationRequest
from .roles import CloudOneRole, CloudOneRoleChanges
from .users import User, UserChanges

__all__ = [
    "Account",
    "AccountChanges",
    "AdministratorRole",
    "ApiKey",
    "ApiKeyChanges",
    "CloudOneRole",
    "CloudOneRoleChanges",
    "Criterion",
    "Invitation",
    "InvitationRequest",
    "Operator",
    "Rights",
    "User",
    "UserChanges",
]
