"""Resource groups: one module per group of the APIs."""

from .accounts import Accounts
from .administrator_roles import AdministratorRoles
from .api_keys import ApiKeys
from .invitations import Invitations
from .roles import CloudOneRoles
from .users import Users

__all__ = ["Accounts", "AdministratorRoles", "ApiKeys", "CloudOneRoles", "Invitations", "Users"]
