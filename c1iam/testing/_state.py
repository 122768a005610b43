"""The fake's data and the rules of both APIs over it (pure: no aiohttp).

Errors are raised as `Refused(status, message)`; the server turns them into answers.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Final

__all__ = [
    "Refused",
    "RoleStore",
    "UserStore",
    "decode_cursor",
    "encode_cursor",
    "search_roles",
]

IAM_DEFAULT_LIMIT: Final = 25  # "limit 0 means the default, 25"
SEARCH_DEFAULT_MAX_ITEMS: Final = 5000
USER_STATES: Final = frozenset({"enabled", "disabled"})
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_INT32_MAX: Final = 2**31 - 1


class Refused(Exception):
    """The request is refused with this status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def now_rfc3339() -> str:
    """The current time as IAM writes it: RFC 3339, UTC, whole seconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- IAM cursors ----------------------------------------------------------------------------

# Leading bytes that encode to "+/+/" in standard base64: every cursor holds the
# characters that break a client which does not URL-encode it.
_CURSOR_PREFIX: Final = b"\xfb\xff\xbf\xfb\xff\xbf"


def encode_cursor(key: tuple[str, str]) -> str:
    """An opaque cursor for "after this key", always with `+`, `/` and `=` in it."""
    payload = _CURSOR_PREFIX + json.dumps(list(key), separators=(",", ":")).encode()
    while len(payload) % 3 != 1:  # one byte over a multiple of 3: "==" padding
        payload += b" "
    return base64.b64encode(payload).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The key a cursor stands for; `Refused(400)` for anything else."""
    try:
        payload = base64.b64decode(cursor, validate=True)
        if not payload.startswith(_CURSOR_PREFIX):
            raise ValueError("foreign cursor")
        created, user_id = json.loads(payload[len(_CURSOR_PREFIX) :])
    except (binascii.Error, ValueError, TypeError) as error:
        raise Refused(400, "Invalid cursor.") from error
    return str(created), str(user_id)


# -- users ----------------------------------------------------------------------------------


def _user_key(user: dict[str, Any]) -> tuple[str, str]:
    return (str(user.get("created", "")), str(user["id"]))


class UserStore(dict[str, dict[str, Any]]):
    """Users by ID (wire form), with a sorted index for keyset paging.

    A dict, so tests can add, change and delete users directly; the index follows.
    """

    def __init__(self, users: Iterable[dict[str, Any]] = ()) -> None:
        super().__init__((user["id"], user) for user in users)
        self._index = sorted(_user_key(user) for user in self.values())

    def __setitem__(self, user_id: str, user: dict[str, Any]) -> None:
        if user_id in self:
            self._unindex(user_id)
        super().__setitem__(user_id, user)
        bisect.insort(self._index, _user_key(user))

    def __delitem__(self, user_id: str) -> None:
        self._unindex(user_id)
        super().__delitem__(user_id)

    def pop(self, user_id: str, *default: Any) -> Any:
        """Remove and return a user."""
        if user_id in self:
            self._unindex(user_id)
        return super().pop(user_id, *default)

    def clear(self) -> None:
        """Remove every user."""
        super().clear()
        self._index.clear()

    def _unindex(self, user_id: str) -> None:
        key = _user_key(self[user_id])
        position = bisect.bisect_left(self._index, key)
        if position < len(self._index) and self._index[position] == key:
            del self._index[position]

    def page(
        self, *, limit: int, after: tuple[str, str] | None, role_id: str | None
    ) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
        """Up to `limit` users after the key `after`; the key to continue from, or None."""
        start = 0 if after is None else bisect.bisect_right(self._index, after)
        found: list[dict[str, Any]] = []
        position = start
        while position < len(self._index):
            key = self._index[position]
            position += 1
            user = self.get(key[1])
            if user is None or (role_id is not None and user.get("roleID") != role_id):
                continue
            if len(found) == limit:
                return found, _user_key(found[-1])
            found.append(user)
        return found, None

    def modify(self, user_id: str, body: Any) -> dict[str, Any]:
        """Apply a modification body (`roleID`, `state`)."""
        user = self.get_user(user_id)
        if not isinstance(body, dict) or not body or set(body) - {"roleID", "state"}:
            raise Refused(400, "Only roleID and state can be modified.")
        if "state" in body and body["state"] not in USER_STATES:
            raise Refused(400, "state must be enabled or disabled.")
        if "roleID" in body and (not isinstance(body["roleID"], str) or not body["roleID"]):
            raise Refused(400, "roleID must be a non-empty string.")
        user.update(body)
        user["lastModified"] = now_rfc3339()
        return user

    def get_user(self, user_id: str) -> dict[str, Any]:
        """A user by ID; 400 for a malformed ID, 404 for an absent one."""
        if not _UUID.fullmatch(user_id):
            raise Refused(400, "Invalid user ID.")
        user = self.get(user_id)
        if user is None:
            raise Refused(404, "User not found.")
        return user


def new_user(region: str, account_id: str, **fields: Any) -> dict[str, Any]:
    """A user in wire form, with defaults for what `fields` leaves out."""
    user_id = fields.pop("id", None) or str(uuid.uuid4())
    stamp = now_rfc3339()
    user: dict[str, Any] = {
        "id": user_id,
        "name": "New User",
        "email": f"user-{user_id[:8]}@example.com",
        "roleID": "read-only",
        "locale": "en-US",
        "timezone": "UTC",
        "state": "enabled",
        "mfaEnabled": False,
        "created": stamp,
        "lastModified": stamp,
        "lastActivity": None,
        "urn": f"urn:cloudone:identity:{region}:{account_id}:user/{user_id}",
    }
    user.update(fields)
    return user


# -- administrator roles --------------------------------------------------------------------

ROLE_READ_ONLY: Final = frozenset({"ID", "urn", "immutable"})
ROLE_WRITABLE: Final = frozenset(
    {
        "name",
        "description",
        "canOnlyManipulateUsersWithEqualOrLesserRights",
        "allComputers",
        "allPolicies",
        "allowUserInterface",
        "allowWebService",
        "rights",
        "computerIDs",
        "computerGroupIDs",
        "policyIDs",
    }
)
# What the search can test on a role, and as what (the spec: "Searchable as ...").
ROLE_SEARCHABLE: Final = {
    "name": "string",
    "description": "string",
    "canOnlyManipulateUsersWithEqualOrLesserRights": "boolean",
    "allComputers": "boolean",
    "allPolicies": "boolean",
    "allowUserInterface": "boolean",
    "allowWebService": "boolean",
    "immutable": "boolean",
    "ID": "id",
}


def parse_role_id(text: str) -> int:
    """A path role ID: `\\d+` in full, within int32; else `Refused(400)`."""
    if not (text.isascii() and text.isdigit()) or int(text) > _INT32_MAX:
        raise Refused(400, "Invalid role ID.")
    return int(text)


def _merge(target: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = json.loads(json.dumps(value))


class RoleStore(dict[int, dict[str, Any]]):
    """Administrator roles by ID (wire form)."""

    urn_prefix: str = "urn:tmds:identity:us-east-ds-1:78884:administratorRole/"

    def next_id(self) -> int:
        """The ID a new role gets."""
        return max(self, default=0) + 1

    def check_body(self, body: Any, *, creating: bool) -> dict[str, Any]:
        """A role body as the manager accepts it, else `Refused(400)`."""
        if not isinstance(body, dict):
            raise Refused(400, "The request body must be a role object.")
        if set(body) & ROLE_READ_ONLY:
            raise Refused(400, f"Read-only properties: {sorted(set(body) & ROLE_READ_ONLY)}.")
        if set(body) - ROLE_WRITABLE:
            raise Refused(400, f"Unknown properties: {sorted(set(body) - ROLE_WRITABLE)}.")
        if creating and not (isinstance(body.get("name"), str) and body["name"]):
            raise Refused(400, "A role needs a name.")
        if "rights" in body and not isinstance(body["rights"], dict):
            raise Refused(400, "rights must be an object.")
        for key in ("computerIDs", "computerGroupIDs", "policyIDs"):
            if key in body and not (
                isinstance(body[key], list)
                and all(isinstance(i, int) and not isinstance(i, bool) for i in body[key])
            ):
                raise Refused(400, f"{key} must be a list of integers.")
        return body

    def create(self, body: Any) -> dict[str, Any]:
        """Store a new role."""
        body = self.check_body(body, creating=True)
        if any(role.get("name") == body["name"] for role in self.values()):
            raise Refused(400, "A role with this name exists.")
        role_id = self.next_id()
        role = {"ID": role_id, "urn": f"{self.urn_prefix}{role_id}", "immutable": False}
        role.update(json.loads(json.dumps(body)))
        self[role_id] = role
        return role

    def get_role(self, role_id: int) -> dict[str, Any]:
        """A role by ID, else `Refused(404)`."""
        role = self.get(role_id)
        if role is None:
            raise Refused(404, "The administrator role does not exist.")
        return role

    def modify(self, role_id: int, body: Any) -> dict[str, Any]:
        """Change what the body gives; `rights` are merged leaf by leaf."""
        role = self.get_role(role_id)
        body = self.check_body(body, creating=False)
        if role.get("immutable"):
            raise Refused(400, "The administrator role is immutable.")
        _merge(role, body)
        return role

    def delete(self, role_id: int) -> None:
        """Delete a role (not an immutable one)."""
        if self.get_role(role_id).get("immutable"):
            raise Refused(400, "The administrator role is immutable.")
        del self[role_id]


_NUMERIC_TESTS: Final[dict[str, Callable[[int, int], bool]]] = {
    "less-than": lambda a, b: a < b,
    "less-than-or-equal": lambda a, b: a <= b,
    "equal": lambda a, b: a == b,
    "greater-than-or-equal": lambda a, b: a >= b,
    "greater-than": lambda a, b: a > b,
    "not-equal": lambda a, b: a != b,
}
# One group of keys per test kind of `searchCriteria` (the spec).
_TEST_KEYS: Final = {
    "id": {"idTest", "idValue"},
    "string": {"stringTest", "stringValue", "stringWildcards"},
    "boolean": {"booleanTest"},
    "numeric": {"numericTest", "numericValue"},
    "choice": {"choiceTest", "choiceValue"},
    "version": {"versionTest", "versionValue"},
    "date": {"firstDateValue", "firstDateInclusive", "lastDateValue", "lastDateInclusive"},
    "null": {"nullTest"},
}


def _like(pattern: str, wildcards: bool) -> re.Pattern[str]:
    if not wildcards:
        return re.compile(re.escape(pattern), re.IGNORECASE | re.DOTALL)
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    # Case-insensitive, as the manager's database collation compares names.
    return re.compile(regex, re.IGNORECASE | re.DOTALL)


def _criterion_test(criterion: Any) -> Callable[[dict[str, Any]], bool]:
    """A predicate for one criterion; `Refused(400)` for a malformed one."""
    if not isinstance(criterion, dict):
        raise Refused(400, "A search criterion must be an object.")
    kinds = [kind for kind, keys in _TEST_KEYS.items() if keys & set(criterion)]
    unknown = set(criterion) - {"fieldName"} - set().union(*_TEST_KEYS.values())
    if len(kinds) != 1 or unknown:
        raise Refused(400, "A search criterion needs exactly one known test.")
    (kind,) = kinds
    if kind == "id":
        op, value = criterion.get("idTest", "equal"), criterion.get("idValue")
        if op not in _NUMERIC_TESTS or not isinstance(value, int) or isinstance(value, bool):
            raise Refused(400, "idTest needs a known operator and an integer idValue.")
        return lambda role: _NUMERIC_TESTS[op](role["ID"], value)
    field = criterion.get("fieldName")
    if not isinstance(field, str) or ROLE_SEARCHABLE.get(field) in (None, "id"):
        raise Refused(400, f"Field {field!r} is not searchable.")
    field_type = ROLE_SEARCHABLE[field]
    if kind == "null":
        expected = criterion["nullTest"]
        if not isinstance(expected, bool):
            raise Refused(400, "nullTest must be a boolean.")
        return lambda role: (role.get(field) is None) == expected
    if kind != field_type:
        raise Refused(400, f"Field {field!r} cannot take a {kind} test.")
    if kind == "boolean":
        expected = criterion.get("booleanTest", True)
        if not isinstance(expected, bool):
            raise Refused(400, "booleanTest must be a boolean.")
        return lambda role: role.get(field) is expected
    op = criterion.get("stringTest", "equal")
    text = criterion.get("stringValue")
    wildcards = criterion.get("stringWildcards", True)
    if (
        op not in ("equal", "not-equal")
        or not isinstance(text, str)
        or not isinstance(wildcards, bool)
    ):
        raise Refused(400, "stringTest needs equal or not-equal and a string stringValue.")
    pattern = _like(text, wildcards)
    negate = op == "not-equal"

    def matches(role: dict[str, Any]) -> bool:
        value = role.get(field)
        return isinstance(value, str) and (pattern.fullmatch(value) is not None) != negate

    return matches


def search_roles(roles: RoleStore, search_filter: Any, *, cap: int | None) -> list[dict[str, Any]]:
    """The roles a searchFilter selects: criteria ANDed, `maxItems` (default 5000)."""
    if search_filter is None:
        search_filter = {}
    if not isinstance(search_filter, dict) or set(search_filter) - {
        "maxItems",
        "searchCriteria",
        "sortByObjectID",
    }:
        raise Refused(400, "Invalid search filter.")
    max_items = search_filter.get("maxItems", SEARCH_DEFAULT_MAX_ITEMS)
    if not isinstance(max_items, int) or isinstance(max_items, bool) or max_items < 0:
        raise Refused(400, "maxItems must be a non-negative integer.")
    criteria = search_filter.get("searchCriteria", [])
    if not isinstance(criteria, list):
        raise Refused(400, "searchCriteria must be a list.")
    tests = [_criterion_test(criterion) for criterion in criteria]
    limit = max_items if cap is None else min(max_items, cap)
    found: Iterator[dict[str, Any]] = (
        role for role in roles.values() if all(test(role) for test in tests)
    )
    ordered = (
        sorted(found, key=lambda role: role["ID"])
        if search_filter.get("sortByObjectID")
        else list(found)
    )
    return ordered[:limit]
