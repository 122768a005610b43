"""Workload Security / Deep Security Manager administrator roles."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from ._rights import Rights

__all__ = ["AdministratorRole", "Rights"]


def _ids(values: Iterable[int] | None) -> tuple[int, ...] | None:
    """Any iterable of IDs as a tuple (typed, so that type checkers take a list too)."""
    return None if values is None else tuple(values)


@attrs.frozen(kw_only=True)
class AdministratorRole:
    """An administrator role. Every field is optional: `None` means "no value".

    The same class serves create, modify and read: fields that are `None` are not sent,
    and `id`, `urn` and `immutable` (read-only on the server) are never sent.

    `rights` is the API's rights tree as nested dicts of booleans, with the API's own key
    names (`rights["computerRights"]["canEditComputerProperties"]`). It is typed by the
    `Rights` TypedDict generated from the OpenAPI spec, and it keeps keys the spec does not
    know, so a role read from a newer manager and sent back loses nothing. To change it,
    copy it: `attrs.evolve(role, rights={**role.rights, ...})`.
    """

    id: int | None = None
    name: str | None = None
    description: str | None = None
    urn: str | None = None
    immutable: bool | None = None
    can_only_manipulate_users_with_equal_or_lesser_rights: bool | None = None
    all_computers: bool | None = None
    all_policies: bool | None = None
    allow_user_interface: bool | None = None
    allow_web_service: bool | None = None
    rights: Rights | None = None
    computer_ids: tuple[int, ...] | None = attrs.field(default=None, converter=_ids)
    computer_group_ids: tuple[int, ...] | None = attrs.field(default=None, converter=_ids)
    policy_ids: tuple[int, ...] | None = attrs.field(default=None, converter=_ids)
