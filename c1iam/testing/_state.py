"""The fake's data and the rules of both APIs over it (pure: no aiohttp).

Errors are raised as `Refused(status, message)`; the server turns them into answers.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import re
import secrets
import string
import uuid
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final

from ._seed import ACCOUNT_ID, INVITATION_DAYS, REGION

__all__ = [
    "AccountStore",
    "ApiKeyStore",
    "CloudOneRoleStore",
    "IamStore",
    "InvitationStore",
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


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def now_rfc3339() -> str:
    """The current time as IAM writes it: RFC 3339, UTC, whole seconds."""
    return _rfc3339(datetime.now(UTC))


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


# -- IAM collections ------------------------------------------------------------------------

_IDENTIFIER: Final = re.compile(r"[0-9A-Za-z][0-9A-Za-z._~-]{0,127}")
_ACCOUNT_ID: Final = re.compile(r"[0-9A-Za-z]{12}")
_ID_ALPHABET: Final = string.ascii_letters + string.digits

# A field rule: None if the value is acceptable, else what is wrong with it.
Rule = Callable[[Any], "str | None"]


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a non-empty string"


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _strings(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return None
    return "must be a list of strings"


def _one_of(*allowed: str) -> Rule:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(allowed)}"

    return check


def _email(value: Any) -> str | None:
    return None if isinstance(value, str) and "@" in value else "must be an email address"


def _key(item: dict[str, Any]) -> tuple[str, str]:
    return (str(item.get("created", "")), str(item["id"]))


class IamStore(dict[str, dict[str, Any]]):
    """One IAM collection by ID (wire form), with a sorted index for keyset paging.

    A dict, so tests can add, change and delete items directly; the index follows. A
    subclass states the collection's rules: ID format, writable fields, what a create
    needs, which operations exist.
    """

    kind: ClassVar[str] = "Item"
    id_pattern: ClassVar[re.Pattern[str]] = _IDENTIFIER
    writable: ClassVar[Mapping[str, Rule]] = {}
    required: ClassVar[frozenset[str]] = frozenset()  # on create
    filters: ClassVar[frozenset[str]] = frozenset()  # list query parameters: exact match
    can_list: ClassVar[bool] = True
    can_create: ClassVar[bool] = True
    can_modify: ClassVar[bool] = True
    can_delete: ClassVar[bool] = True
    created_status: ClassVar[int] = 200
    role_ids: Container[str] | None = None
    """The Cloud One role IDs that exist: a `roleID` naming another is refused (400)."""

    def __init__(self, items: Iterable[dict[str, Any]] = ()) -> None:
        super().__init__((item["id"], item) for item in items)
        self._index = sorted(_key(item) for item in self.values())

    def __setitem__(self, item_id: str, item: dict[str, Any]) -> None:
        if item_id in self:
            self._unindex(item_id)
        super().__setitem__(item_id, item)
        bisect.insort(self._index, _key(item))

    def __delitem__(self, item_id: str) -> None:
        self._unindex(item_id)
        super().__delitem__(item_id)

    def pop(self, item_id: str, *default: Any) -> Any:
        """Remove and return an item."""
        if item_id in self:
            self._unindex(item_id)
        return super().pop(item_id, *default)

    def clear(self) -> None:
        """Remove every item."""
        super().clear()
        self._index.clear()

    def _unindex(self, item_id: str) -> None:
        key = _key(self[item_id])
        position = bisect.bisect_left(self._index, key)
        if position < len(self._index) and self._index[position] == key:
            del self._index[position]

    def page(
        self, *, limit: int, after: tuple[str, str] | None, match: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], tuple[str, str] | None]:
        """Up to `limit` items after the key `after` whose fields equal `match`; the key to
        continue from, or None at the end."""
        start = 0 if after is None else bisect.bisect_right(self._index, after)
        found: list[dict[str, Any]] = []
        position = start
        while position < len(self._index):
            key = self._index[position]
            position += 1
            item = self.get(key[1])
            if item is None or any(item.get(name) != value for name, value in match.items()):
                continue
            if len(found) == limit:
                return found, _key(found[-1])
            found.append(item)
        return found, None

    def get_item(self, item_id: str) -> dict[str, Any]:
        """An item by ID; 400 for a malformed ID, 404 for an absent one."""
        if not self.id_pattern.fullmatch(item_id):
            raise Refused(400, f"Invalid {self.kind.lower()} ID.")
        item = self.get(item_id)
        if item is None:
            raise Refused(404, f"{self.kind} not found.")
        return item

    def _check_body(self, body: Any, *, required: frozenset[str]) -> dict[str, Any]:
        if not isinstance(body, dict) or not body:
            raise Refused(400, "The request body must be a JSON object.")
        unknown = set(body) - set(self.writable)
        if unknown:
            raise Refused(400, f"Cannot set: {', '.join(sorted(unknown))}.")
        missing = required - set(body)
        if missing:
            raise Refused(400, f"Required: {', '.join(sorted(missing))}.")
        for name, value in body.items():
            problem = self.writable[name](value)
            if problem is not None:
                raise Refused(400, f"{name} {problem}.")
        if "roleID" in body and self.role_ids is not None and body["roleID"] not in self.role_ids:
            raise Refused(400, f"roleID {body['roleID']!r} is not a role of this account.")
        return body

    def modify(self, item_id: str, body: Any) -> dict[str, Any]:
        """Apply a modification body: only writable fields, each valid."""
        item = self.get_item(item_id)
        item.update(self._check_body(body, required=frozenset()))
        item["lastModified"] = now_rfc3339()
        return item

    def create(self, body: Any) -> dict[str, Any]:
        """Store a new item from a creation body; the item as the service answers it."""
        item = self.new(**self._check_body(body, required=self.required))
        self[item["id"]] = item
        return item

    def new(self, **fields: Any) -> dict[str, Any]:
        """An item in wire form, defaults for what `fields` leaves out (not stored)."""
        raise NotImplementedError


def _stamped(kind: str, item_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    stamp = now_rfc3339()
    return {
        "id": item_id,
        "created": stamp,
        "lastModified": stamp,
        "urn": f"urn:cloudone:identity:{REGION}:{ACCOUNT_ID}:{kind}/{item_id}",
    } | fields


def _random_id(length: int = 27) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


class UserStore(IamStore):
    """Users: UUID IDs; only `roleID` and `state` can change; created by invitation."""

    kind = "User"
    id_pattern = _UUID
    writable: ClassVar[Mapping[str, Rule]] = {"roleID": _text, "state": _one_of(*USER_STATES)}
    filters = frozenset({"roleID"})
    can_create = False

    def new(self, **fields: Any) -> dict[str, Any]:
        """A user in wire form, with defaults for what `fields` leaves out."""
        user_id = fields.pop("id", None) or str(uuid.uuid4())
        defaults = {
            "name": "New User",
            "email": f"user-{user_id[:8]}@example.com",
            "roleID": "read-only",
            "locale": "en",
            "timezone": "UTC",
            "state": "enabled",
            "mfaEnabled": False,
            "lastActivity": None,
        }
        return _stamped("user", user_id, defaults | fields)


class ApiKeyStore(IamStore):
    """API keys: the secret is in the creation answer only, never stored."""

    kind = "API key"
    writable: ClassVar[Mapping[str, Rule]] = {
        "alias": _text,
        "description": _text,
        "roleID": _text,
        "locale": _text,
        "timezone": _text,
        "enabled": _flag,
        "allowedIPs": _strings,
        "allowedCIDRs": _strings,
    }
    required = frozenset({"roleID"})
    filters = frozenset({"roleID"})

    def new(self, **fields: Any) -> dict[str, Any]:
        """An API key in wire form, with defaults for what `fields` leaves out."""
        key_id = fields.pop("id", None) or _random_id()
        defaults: dict[str, Any] = {
            "alias": f"key-{key_id[:6]}",
            "description": None,
            "roleID": "read-only",
            "locale": "en",
            "timezone": "UTC",
            "enabled": True,
            "allowedIPs": [],
            "allowedCIDRs": [],
            "lastActivity": None,
        }
        return _stamped("apikey", key_id, defaults | fields)

    def create(self, body: Any) -> dict[str, Any]:
        """Store a new key; the answer alone carries `secret`, bare (without `<id>:` in
        front), as in the API reference's example: the key that authenticates is
        `<id>:<secret>`."""
        key = super().create(body)
        return key | {"secret": _random_id(48)}


class CloudOneRoleStore(IamStore):
    """Cloud One roles: IDs such as "full-access"; created with a name and service roles."""

    kind = "Role"
    writable: ClassVar[Mapping[str, Rule]] = {
        "name": _text,
        "description": _text,
        "serviceRoleURNs": _strings,
    }
    required = frozenset({"name", "serviceRoleURNs"})

    def new(self, **fields: Any) -> dict[str, Any]:
        """A role in wire form, with defaults for what `fields` leaves out."""
        role_id = fields.pop("id", None) or f"custom-{_random_id(10).lower()}"
        defaults: dict[str, Any] = {"name": role_id, "description": None, "serviceRoleURNs": []}
        return _stamped("role", role_id, defaults | fields)


class AccountStore(IamStore):
    """The account: one item, 12-character ID, described and modified only."""

    kind = "Account"
    id_pattern = _ACCOUNT_ID
    writable: ClassVar[Mapping[str, Rule]] = {
        "alias": _text,
        "locale": _text,
        "timezone": _text,
        "mfaRequired": _flag,
    }
    can_list = False
    can_create = False
    can_delete = False


class InvitationStore(IamStore):
    """Invitations: created (201) with an email and a role, then described or withdrawn."""

    kind = "Invitation"
    writable: ClassVar[Mapping[str, Rule]] = {"email": _email, "roleID": _text}
    required = frozenset({"email", "roleID"})
    can_modify = False
    created_status = 201

    def new(self, **fields: Any) -> dict[str, Any]:
        """An invitation in wire form, with defaults for what `fields` leaves out."""
        # IDs as the reference's examples show them: 32 upper-case hex characters.
        invitation_id = fields.pop("id", None) or uuid.uuid4().hex.upper()
        stamp = datetime.now(UTC)
        defaults = {
            "email": f"invitee-{invitation_id[:8].lower()}@example.com",
            "roleID": "read-only",
            "state": "invited",
            "expiry": _rfc3339(stamp + timedelta(days=INVITATION_DAYS)),
            "lastSent": _rfc3339(stamp),
        }
        return _stamped("invitation", invitation_id, defaults | fields)


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
