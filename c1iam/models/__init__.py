"""The models: frozen attrs classes without wire logic (see `c1iam._converter`)."""

from .administrator_roles import AdministratorRole, Rights
from .criteria import Criterion, Operator
from .users import User, UserChanges

__all__ = ["AdministratorRole", "Criterion", "Operator", "Rights", "User", "UserChanges"]
