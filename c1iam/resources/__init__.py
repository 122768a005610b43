"""Resource groups: one module per group of the APIs."""

from .administrator_roles import AdministratorRoles
from .users import Users

__all__ = ["AdministratorRoles", "Users"]
