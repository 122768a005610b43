"""`session.users`: Cloud One IAM users (the IAM API reference, tag Users)."""

from __future__ import annotations

from typing import Final, get_args

from .._arguments import check_role_id, check_uuid, optional
from .._errors import InvalidArgument
from ..models.users import User, UserChanges, UserState
from ._iam import ListedByRole

__all__ = ["Users"]

_STATES: Final = frozenset(get_args(UserState))


class Users(ListedByRole[User]):
    """List, describe, modify and delete the users of a Cloud One account."""

    collection = "users"
    items_key = "users"
    model = User
    id_name = "user_id"
    check_id = staticmethod(check_uuid)

    async def describe(self, user_id: str) -> User:
        """One user; `NotFound` if there is none with this ID."""
        return await self._describe(user_id)

    async def modify(
        self, user_id: str, *, role_id: str | None = None, state: UserState | None = None
    ) -> User:
        """Change a user's role and/or state ("enabled" or "disabled"); only the fields
        given (not `None`) are sent. Returns the user as the server now has it."""
        if state is not None and (not isinstance(state, str) or state not in _STATES):
            raise InvalidArgument(f"state must be one of {sorted(_STATES)}, got {state!r}")
        changes = UserChanges(role_id=optional(check_role_id, "role_id", role_id), state=state)
        return await self._modify(user_id, changes)

    async def delete(self, user_id: str) -> None:
        """Remove a user from the account; `NotFound` if there is none with this ID."""
        await self._delete(user_id)
