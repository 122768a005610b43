"""What every collection of the IAM API shares (the IAM API reference,
https://cloudone.trendmicro.com/docs/identity-and-account-management/api-reference/).

One path (`/users`, `/apikeys`, ...), lists paged by the opaque `next` cursor under one
items key, `POST` to create, `GET`/`POST`/`DELETE` on `/<path>/<id>` to describe, modify
and delete. A resource group subclasses `IamCollection` (or `Listed` / `ListedByRole`,
which add the public `list`), states its path, model and ID rule, validates its own
arguments and calls these; requests, paging and decoding are here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import attrs

from .._arguments import check_role_id
from .._converter import structure, structurer, unstructure
from .._errors import InvalidArgument
from .._pagers import CursorPager
from .._sansio import Api, Call, path
from .._streams import Stream
from ._base import Requester

__all__ = ["IamCollection", "Listed", "ListedByRole"]

ModelT = TypeVar("ModelT")


class IamCollection(Generic[ModelT]):
    """The operations of one IAM collection, for a resource group to expose."""

    collection: ClassVar[str]
    """The path segment: "users", "apikeys", ..."""
    items_key: ClassVar[str]
    """The key of the items in a list page: `{"next": ..., "<items_key>": [...]}` (only
    for a collection that lists)."""
    model: type[ModelT]
    id_name: ClassVar[str]
    """The argument name that error messages show for the ID."""
    check_id: ClassVar[staticmethod[[str, str], str]]
    """The ID rule, e.g. `staticmethod(check_uuid)`: raises `InvalidArgument`."""

    def __init__(self, session: Requester) -> None:
        self._session = session

    def _item_call(self, method: str, item_id: Any, *, json: Any = None) -> Call:
        """A call on `/<collection>/<id>`, its route `/<collection>/{id}` for traces."""
        # IDs are checked before they go into a URL path, and percent-encoded even then.
        item_path = path(self.collection, type(self).check_id(self.id_name, item_id))
        return Call(
            api=Api.ACCOUNTS,
            method=method,
            path=item_path,
            json=json,
            route=f"/{self.collection}/{{id}}",
        )

    def _list(
        self,
        *,
        filters: Sequence[tuple[str, str]] = (),
        page_size: int | None,
        cursor: str | None,
        max_items: int | None,
    ) -> Stream[ModelT]:
        pager = CursorPager(
            path=path(self.collection),
            items_key=self.items_key,
            filters=filters,
            page_size=page_size,
            cursor=cursor,
            max_items=max_items,
        )
        return self._session._stream(pager, self._reader())

    def _reader(self) -> Callable[[Any], ModelT]:
        """How this collection reads an item from a describe, a modify or a list."""
        return structurer(self.model)

    async def _create(self, body: Any) -> ModelT:
        return structure(await self._create_answer(body), self.model)

    async def _create_answer(self, body: Any) -> Any:
        """The JSON answer to a create, for a resource that must read it its own way."""
        # idempotent=False: a create is re-sent only when the server said it did not
        # process it (429/503), never after an ambiguous failure (see `_retry.decide`).
        call = Call(
            api=Api.ACCOUNTS,
            method="POST",
            path=path(self.collection),
            json=unstructure(body),
            idempotent=False,
        )
        return await self._session._request(call)

    async def _describe(self, item_id: Any) -> ModelT:
        call = self._item_call("GET", item_id)
        return self._reader()(await self._session._request(call))

    async def _modify(self, item_id: Any, changes: Any) -> ModelT:
        """Send `changes`, a model whose fields are what the public `modify` takes."""
        body = unstructure(changes)
        call = self._item_call("POST", item_id, json=body)  # checks the ID first
        if not body:
            # An empty modification would be a wasted call at best.
            names = ", ".join(f"{field.name}=" for field in attrs.fields(type(changes)))
            raise InvalidArgument(f"modify needs at least one of {names}")
        return self._reader()(await self._session._request(call))

    async def _delete(self, item_id: Any) -> None:
        call = self._item_call("DELETE", item_id)
        await self._session._request(call)


class Listed(IamCollection[ModelT]):
    """A collection that lists all its items."""

    def list(
        self,
        *,
        page_size: int | None = None,
        cursor: str | None = None,
        max_items: int | None = None,
    ) -> Stream[ModelT]:
        """Every item, following `next`; `page_size` defaults to 1000 (smaller if refused)."""
        return self._list(page_size=page_size, cursor=cursor, max_items=max_items)


class ListedByRole(IamCollection[ModelT]):
    """A collection whose list can be narrowed to one role (query `roleID`, exact match)."""

    def list(
        self,
        *,
        role_id: str | None = None,
        page_size: int | None = None,
        cursor: str | None = None,
        max_items: int | None = None,
    ) -> Stream[ModelT]:
        """Every item (with `role_id`: only those with that role), following `next`;
        `page_size` defaults to 1000 (smaller if the server refuses it)."""
        filters = [] if role_id is None else [("roleID", check_role_id("role_id", role_id))]
        return self._list(filters=filters, page_size=page_size, cursor=cursor, max_items=max_items)
