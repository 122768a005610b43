"""Every check of a caller's argument, in one place, with one vocabulary of messages.

Used by the session's settings, `RetryPolicy`, the resource groups, the search criteria,
the pagers, and the command (`c1iam.cli`, which checks IDs before it sends anything):
this module is shared on purpose, its `__all__` is what they may use.

A bad argument is an `InvalidArgument` (a `ValueError`) raised before anything is sent,
and its message always reads `<name> must be <what is expected>, got <the value>` (or,
for one bad entry of a list, `<name>: <entry> is not <what is expected>`). `True` is
never a number here, whatever Python says, and an argument that accepts `None` says so
by being checked through `optional`.

IDs are checked before they go into a URL path: a user ID that is not a UUID, a role ID
that is not a positive int32, an opaque ID with a `/` or a `..`, is refused.
"""

from __future__ import annotations

import ipaddress
import math
import re
import uuid
from collections.abc import Callable
from typing import Any, Final, TypeVar

import attrs

from ._errors import InvalidArgument

__all__ = [
    "INT32_MAX",
    "check_account_id",
    "check_email",
    "check_flag",
    "check_identifier",
    "check_int32_id",
    "check_int64",
    "check_ip_addresses",
    "check_ip_networks",
    "check_number",
    "check_page_size",
    "check_positive_int",
    "check_positive_number",
    "check_role_id",
    "check_str",
    "check_text",
    "check_urns",
    "check_uuid",
    "check_word",
    "optional",
    "validator",
]

T = TypeVar("T")
V = TypeVar("V")

INT32_MAX: Final = 2**31 - 1
INT64_MAX: Final = 2**63 - 1


def _refuse(name: str, expected: str, value: object) -> InvalidArgument:
    return InvalidArgument(f"{name} must be {expected}, got {value!r}")


def optional(check: Callable[[str, V], T], name: str, value: V | None) -> T | None:
    """`check(name, value)`, or `None` for an argument that was not given."""
    return None if value is None else check(name, value)


def validator(
    check: Callable[[str, Any], object], *, or_none: bool = False
) -> Callable[[Any, Any, Any], None]:
    """`check` as an attrs validator, naming the argument `<Class>.<field>`; with
    `or_none`, `None` is accepted too."""

    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and or_none:
            return
        check(f"{type(instance).__name__}.{attribute.name}", value)

    return validate


# -- plain values ----------------------------------------------------------------------------


def check_flag(name: str, value: bool) -> bool:
    """`value` if it is a bool (not 0, 1 or "false", which a server reads its own way)."""
    if not isinstance(value, bool):
        raise _refuse(name, "True or False", value)
    return value


def check_positive_int(name: str, value: int) -> int:
    """`value` if it is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _refuse(name, "an int >= 1", value)
    return value


def check_page_size(name: str, value: int) -> int:
    """`value` if it is an int >= 1 that fits the APIs' int32 `limit` / `maxItems`."""
    if check_positive_int(name, value) > INT32_MAX:
        raise _refuse(name, f"an int between 1 and {INT32_MAX}", value)
    return value


def check_number(name: str, value: float) -> float:
    """`value` if it is an int or a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _refuse(name, "a number", value)
    return value


def check_positive_number(name: str, value: float) -> float:
    """`value` as a float if it is a finite number > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and value > 0)
    ):
        raise _refuse(name, "a positive number", value)
    return float(value)


def check_str(name: str, value: str) -> str:
    """`value` if it is a str (any str: a search value may be empty)."""
    if not isinstance(value, str):
        raise _refuse(name, "a str", value)
    return value


def check_text(name: str, value: str) -> str:
    """`value` if it is a string with something other than whitespace in it."""
    if not isinstance(value, str) or not value.strip():
        raise _refuse(name, "a non-empty string", value)
    return value


def check_word(name: str, value: str) -> str:
    """`value` if it is a non-empty string without spaces or control characters."""
    if not isinstance(value, str) or not value or not value.isprintable() or " " in value:
        raise _refuse(name, "a non-empty string without spaces", value)
    return value


# -- IDs and addresses -----------------------------------------------------------------------

_UUID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_ACCOUNT_ID: Final = re.compile(r"[0-9A-Za-z]{12}")
# Cloud One role IDs, in filters, bodies and paths, as the IAM API's schema writes them.
_ROLE_ID: Final = re.compile(r"[a-z0-9-]+")
_ROLE_ID_RULE: Final = (
    "a Cloud One role ID such as 'full-access' (lower-case letters, digits and '-')"
)
# Opaque IAM IDs ("full-access", an API key ID): URL-safe characters only, starting with a
# letter or digit, so neither "." nor ".." can walk the path up after URL normalisation.
_IDENTIFIER: Final = re.compile(r"[0-9A-Za-z][0-9A-Za-z._~-]{0,127}")
_IDENTIFIER_RULE: Final = (
    "1 to 128 letters, digits, '.', '_', '~' or '-' starting with a letter or digit"
)
# One address, no display name or list: no whitespace, separators or quoting characters.
_EMAIL: Final = re.compile(r"[^@\s,;:<>()\[\]\\\"]+@[^@\s,;:<>()\[\]\\\"]+\.[^@\s,;:<>()\[\]\\\"]+")
_CIDR: Final = re.compile(r"[0-9A-Fa-f.:]+/[0-9]{1,3}")
_URN: Final = re.compile(r"urn:[!-~]+")  # printable ASCII, no whitespace


def check_uuid(name: str, value: str) -> str:
    """`value` in lower case if it is a UUID in its usual 8-4-4-4-12 form. The services
    write UUIDs in lower case and match paths exactly: an upper-case copy would be a 404."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        raise _refuse(name, "a UUID like 'cc401d8f-7920-4d03-9e48-ce8ef79b4835'", value)
    return value.lower()


def check_int32_id(name: str, value: int | str) -> int:
    """`value` as an int if it is a positive int32 (an int, or a string of digits)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise _refuse(name, "a positive int", value)
    if not 1 <= number <= INT32_MAX:
        raise _refuse(name, f"an int between 1 and {INT32_MAX}", value)
    return number


def check_int64(name: str, value: int) -> int:
    """`value` if it is an int that fits an int64 (negative values included)."""
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > INT64_MAX:
        raise _refuse(name, "an int64", value)
    return value


def _matching(pattern: re.Pattern[str], name: str, value: str, expected: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _refuse(name, expected, value)
    return value


def check_account_id(name: str, value: str) -> str:
    """`value` if it is a Cloud One account ID: 12 letters or digits."""
    return _matching(_ACCOUNT_ID, name, value, "a 12-character account ID")


def check_role_id(name: str, value: str) -> str:
    """`value` if it is a Cloud One role ID ("full-access"): lower-case letters, digits, `-`."""
    return _matching(_ROLE_ID, name, value, _ROLE_ID_RULE)


def check_identifier(name: str, value: str) -> str:
    """`value` if it is an opaque ID safe in a URL path: letters, digits, `.`, `_`, `~`, `-`."""
    return _matching(_IDENTIFIER, name, value, _IDENTIFIER_RULE)


def check_email(name: str, value: str) -> str:
    """`value` if it looks like one email address."""
    if not isinstance(value, str) or not _EMAIL.fullmatch(value) or not value.isprintable():
        raise _refuse(name, "one email address", value)
    return value


def _each(name: str, values: Any, parse: Callable[[str], object], expected: str) -> tuple[str, ...]:
    # Every value must parse. A bare string is iterable too: "10.0.0.1" must not become
    # ten one-character entries.
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise _refuse(name, "a list of strings", values)
    for value in values:
        try:
            if not isinstance(value, str):  # ip_address(5) would pass
                raise TypeError(value)
            parse(value)
        except (TypeError, ValueError):
            raise InvalidArgument(f"{name}: {value!r} is not {expected}") from None
    return tuple(values)


def _address(value: str) -> None:
    # A scoped IPv6 address ("fe80::1%eth0") names an interface of this machine, not a
    # client the service could see.
    if "%" in value:
        raise ValueError(value)
    ipaddress.ip_address(value)


def _network(value: str) -> None:
    # Only the `address/prefix` form, host bits clear: "10.0.0.0/255.0.0.0", "10.0.0.1"
    # or "10.0.0.1/8" may not mean to the service what the caller meant.
    if not _CIDR.fullmatch(value):
        raise ValueError(value)
    ipaddress.ip_network(value, strict=True)


def _urn(value: str) -> None:
    if not _URN.fullmatch(value):
        raise ValueError(value)


def check_ip_addresses(name: str, values: Any) -> tuple[str, ...]:
    """`values` as a tuple if every one is an IPv4 or IPv6 address."""
    return _each(name, values, _address, "an IP address")


def check_ip_networks(name: str, values: Any) -> tuple[str, ...]:
    """`values` as a tuple if every one is a CIDR block (`10.0.0.0/8`, host bits clear)."""
    return _each(name, values, _network, "a CIDR block such as '10.0.0.0/8'")


def check_urns(name: str, values: Any) -> tuple[str, ...]:
    """`values` as a tuple if every one is a URN (`urn:...`)."""
    return _each(name, values, _urn, "a URN ('urn:' and printable characters)")
