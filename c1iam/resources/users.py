"""`session.users`: Cloud One IAM users (reference page, section 1, "Users")."""

from __future__ import annotations

from typing import Final

from .._converter import structure, structurer, unstructure
from .._errors import InvalidArgument
from .._sansio import Api, Call, path
from .._streams import CursorPager, Stream
from ..models.users import User, UserChanges
from ._base import Requester, check_uuid, check_word

__all__ = ["Users"]

_STATES: Final = frozenset({"enabled", "disabled"})


class Users:
    """List, describe, modify and delete the users of a Cloud One account."""

    def __init__(self, session: Requester) -> None:
        self._session = session

    def list(
        self,
        *,
        role_id: str | None = None,
        page_size: int | None = None,
        cursor: str | None = None,
        max_items: int | None = None,
    ) -> Stream[User]:
        """Every user (with `role_id`: only those with that role), following `next`.

        `page_size` defaults to the API's 25.
        """
        filters = [] if role_id is None else [("roleID", check_word("role_id", role_id))]
        pager = CursorPager(
            path="/users",
            items_key="users",
            filters=filters,
            page_size=page_size,
            cursor=cursor,
            max_items=max_items,
        )
        return self._session._stream(pager, structurer(User))

    async def describe(self, user_id: str) -> User:
        """One user; `NotFound` if there is none with this ID."""
        call = Call(
            api=Api.ACCOUNTS, method="GET", path=path("users", check_uuid("user_id", user_id))
        )
        return structure(await self._session._request(call), User)

    async def modify(
        self, user_id: str, *, role_id: str | None = None, state: str | None = None
    ) -> User:
        """Change a user's role and/or state ("enabled" or "disabled"); only the fields
        given (not `None`) are sent. Returns the user as the server now has it."""
        user_path = path("users", check_uuid("user_id", user_id))
        if role_id is None and state is None:
            raise InvalidArgument("modify needs role_id=, state= or both")
        if state is not None and state not in _STATES:
            raise InvalidArgument(f"state must be one of {sorted(_STATES)}, got {state!r}")
        changes = UserChanges(
            role_id=None if role_id is None else check_word("role_id", role_id), state=state
        )
        call = Call(api=Api.ACCOUNTS, method="POST", path=user_path, json=unstructure(changes))
        return structure(await self._session._request(call), User)

    async def delete(self, user_id: str) -> None:
        """Remove a user from the account; `NotFound` if there is none with this ID."""
        call = Call(
            api=Api.ACCOUNTS, method="DELETE", path=path("users", check_uuid("user_id", user_id))
        )
        await self._session._request(call)
