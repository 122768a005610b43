"""The one converter between JSON and the models (cattrs).

It owns everything about the wire form of a model, so the models stay plain:
- names: snake_case attributes to the APIs' camelCase, where an `id` or `ids` word is
  written `ID`/`IDs` (`role_id` to `roleID`, `computer_ids` to `computerIDs`), with a few
  fixed exceptions (an administrator role's own ID is `ID`);
- timestamps: RFC 3339 in both directions, with or without fractions, `Z` or an offset;
  a timestamp without an offset is read as UTC;
- unknown keys: ignored when reading, so a field the server adds never breaks a client;
- the rights tree of a role: kept as the JSON it is, unknown keys included;
- fields without a value are not written, so a partial model is a partial update.

Reading is the CPU cost of a stream (a page of 100 users is decoded while the next is
fetched), so each model also gets a fast path (`_fast_structure`): generated code with the
common checks inline. It only ever accepts what cattrs' own hook accepts, and gives up
on anything unusual, which cattrs then reads or refuses with its detailed error.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypeVar, get_type_hints

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._auth import Secret
from ._errors import ProtocolError
from .models import (
    Account,
    AccountChanges,
    AdministratorRole,
    ApiKey,
    ApiKeyChanges,
    CloudOneRole,
    CloudOneRoleChanges,
    Criterion,
    Invitation,
    InvitationRequest,
    Rights,
    User,
    UserChanges,
)

__all__ = ["converter", "structure", "unstructure", "wire_name"]

T = TypeVar("T")

_ACRONYMS: Final = {
    "id": "ID",
    "ids": "IDs",
    "ips": "IPs",
    "cidrs": "CIDRs",
    "urn": "URN",
    "urns": "URNs",
}

# Where an API does not follow its own casing rule.
_EXCEPTIONS: Final[Mapping[type, Mapping[str, str]]] = {
    AdministratorRole: {"id": "ID"},
}

# Read-only fields of a model: read, never written (the server rejects or ignores them).
_READ_ONLY: Final[Mapping[type, frozenset[str]]] = {
    AdministratorRole: frozenset({"id", "urn", "immutable"}),
    ApiKey: frozenset({"secret"}),  # shown once by the service, never sent back
}
_MODELS: Final = (
    User,
    UserChanges,
    AdministratorRole,
    Criterion,
    ApiKey,
    ApiKeyChanges,
    CloudOneRole,
    CloudOneRoleChanges,
    Account,
    AccountChanges,
    Invitation,
    InvitationRequest,
)


def wire_name(attribute: str) -> str:
    """The camelCase wire name of a snake_case attribute (`role_id` -> `roleID`)."""
    first, *rest = attribute.split("_")
    return first + "".join(_ACRONYMS.get(word, word.capitalize()) for word in rest)


def _timestamps(*, nullable: bool) -> Callable[[Any, type], datetime | None]:
    def parse(value: Any, _: type) -> datetime | None:
        if type(value) is str:
            # Python 3.11's fromisoformat reads RFC 3339: `Z`, offsets, any fraction digits.
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if value is None and nullable:
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        raise ValueError(f"a timestamp must be a string, got {type(value).__name__}")

    return parse


def _format_timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _strict(expected: type, name: str, *, nullable: bool = False) -> Callable[[Any, type], Any]:
    # cattrs' default hooks coerce (`str(5)`, `bool("no")`): a wrong type from the server
    # would pass as a wrong value. These check instead, and are about twice as fast. One
    # function for `X | None` too: decoding is the stream's CPU cost, a call per field counts.
    def check(value: Any, _: type) -> Any:
        if (
            type(value) is expected
            or (value is None and nullable)
            or (isinstance(value, expected) and not (expected is int and isinstance(value, bool)))
        ):
            return value
        raise ValueError(f"expected {name}, got {type(value).__name__}")

    return check


def _secret(value: Any, _: type) -> Secret:
    if isinstance(value, str):
        return Secret(value)
    raise ValueError(f"expected a string, got {type(value).__name__}")


def _number(value: Any, _: type) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise ValueError(f"expected a number, got {type(value).__name__}")


def _optional(hook: Callable[[Any, type], T]) -> Callable[[Any, type], T | None]:
    def optional(value: Any, type_: type) -> T | None:
        return None if value is None else hook(value, type_)

    return optional


def _is_homogeneous_tuple(candidate: Any) -> bool:
    arguments = typing.get_args(candidate)
    return typing.get_origin(candidate) is tuple and len(arguments) == 2 and arguments[1] is ...


def _homogeneous_tuples(converter: cattrs.Converter) -> Callable[[Any, Any], tuple[Any, ...]]:
    # cattrs' own hook takes any iterable: a JSON string would become a tuple of characters
    # ("10.0.0.1" as ten "addresses"), a JSON object a tuple of its keys. Only a list is one.
    def structure_items(value: Any, type_: Any) -> tuple[Any, ...]:
        if type(value) is not list:
            raise ValueError(f"expected a list, got {type(value).__name__}")
        item_type = typing.get_args(type_)[0]
        hook = converter.get_structure_hook(item_type)
        return tuple(hook(item, item_type) for item in value)

    return structure_items


def _is_open_enumeration(candidate: Any) -> bool:
    """`Literal["a", "b"] | str | None`: documented values, and whatever else a server sends."""
    arguments = typing.get_args(candidate)
    return (
        typing.get_origin(candidate) is typing.Union
        and str in arguments
        and any(typing.get_origin(argument) is typing.Literal for argument in arguments)
    )


def _is(expected: Any) -> Callable[[Any], bool]:
    def predicate(candidate: Any) -> bool:
        return bool(candidate == expected)

    return predicate


def _keep_tree(value: Any, _: type) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"rights must be a JSON object, got {type(value).__name__}")
    # A copy, so that a model never shares a mutable tree with a response or a request.
    return _copy_tree(value)


def _copy_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_tree(item) for item in value]
    return value


# Both readers of each model, the fast path and cattrs' own, for the tests to compare.
READERS: Final[dict[type, tuple[Callable[[Any], Any], Callable[[Any, type], Any]]]] = {}


class _Unusual(Exception):
    """The fast path met a value it does not handle: cattrs' hook decides."""


_INLINE_CHECKS: Final = {str: "str", bool: "bool", int: "int"}


def _fast_structure(
    converter: cattrs.Converter, cls: type, names: Mapping[str, str]
) -> Callable[[Any], Any]:
    """Generated code for reading `cls`: `type(value) is str` and the like inline, the
    timestamps parsed inline, any other field through its cattrs hook. Raises `_Unusual`
    (or whatever a hook raises) where cattrs' hook must decide."""
    hints = get_type_hints(cls)
    scope: dict[str, Any] = {
        "_cls": cls,
        "_Unusual": _Unusual,
        "_parse": datetime.fromisoformat,
        "_UTC": UTC,
        "_MISSING": attrs.NOTHING,
    }
    lines = ["def structure(o):"]
    arguments = []
    for number, field in enumerate(attrs.fields(cls)):
        hint = hints[field.name]
        optional = hint != (bare := _without_none(hint))
        value = f"v{number}"
        wire = names[field.name]
        plain_default = field.default is not attrs.NOTHING and not isinstance(
            field.default,
            attrs.Factory,  # type: ignore[arg-type]
        )
        if plain_default:
            scope[f"_default{number}"] = field.default
            lines.append(f"    {value} = o.get({wire!r}, _default{number})")
        else:
            # Required, or a default made per instance: missing is for cattrs to handle.
            lines.append(f"    {value} = o[{wire!r}]")
        guard = f"{value} is not None and " if optional else ""
        if bare in _INLINE_CHECKS:
            lines.append(f"    if {guard}type({value}) is not {_INLINE_CHECKS[bare]}:")
            lines.append("        raise _Unusual")
        elif bare is datetime:
            lines += [
                f"    if {guard}True:",
                f"        if type({value}) is not str:",
                "            raise _Unusual",
                f"        {value} = _parse({value})",
                f"        if {value}.tzinfo is None:",
                f"            {value} = {value}.replace(tzinfo=_UTC)",
            ]
        else:
            scope[f"_hook{number}"] = converter.get_structure_hook(hint)
            scope[f"_type{number}"] = hint
            if plain_default and optional and field.default is None:
                # Absent or null: None, as cattrs' hook for `X | None` would give.
                lines.append(f"    if {value} is not None:")
                lines.append(f"        {value} = _hook{number}({value}, _type{number})")
            else:
                lines.append(f"    {value} = _hook{number}({value}, _type{number})")
        arguments.append(f"{field.name}={value}")
    lines.append(f"    return _cls({', '.join(arguments)})")
    exec("\n".join(lines), scope)  # noqa: S102 - code built from the model's own fields
    fast: Callable[[Any], Any] = scope["structure"]
    return fast


def _without_none(hint: Any) -> Any:
    members = [member for member in getattr(hint, "__args__", ()) if member is not type(None)]
    if isinstance(hint, types.UnionType) and len(members) == 1:
        return members[0]
    return hint


def _register_model(converter: cattrs.Converter, cls: type) -> None:
    exceptions = _EXCEPTIONS.get(cls, {})
    read_only = _READ_ONLY.get(cls, frozenset())
    names = {
        field.name: exceptions.get(field.name, wire_name(field.name)) for field in attrs.fields(cls)
    }
    structure_overrides: dict[str, Any] = {
        name: override(rename=wire) for name, wire in names.items()
    }
    detailed: Callable[[Any, type], Any] = make_dict_structure_fn(
        cls, converter, **structure_overrides
    )
    fast = _fast_structure(converter, cls, names)
    READERS[cls] = (fast, detailed)

    def structure_model(data: Any, type_: type) -> Any:
        try:
            return fast(data)
        except Exception:  # anything unusual: cattrs' hook decides, or says what is wrong
            return detailed(data, type_)

    converter.register_structure_hook(cls, structure_model)
    unstructure_overrides: dict[str, Any] = {
        name: override(rename=wire, omit=name in read_only) for name, wire in names.items()
    }
    unstructure_fields: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
        cls, converter, **unstructure_overrides
    )

    def unstructure_without_nones(instance: Any) -> dict[str, Any]:
        return {k: v for k, v in unstructure_fields(instance).items() if v is not None}

    converter.register_unstructure_hook(cls, unstructure_without_nones)


def make_converter() -> cattrs.Converter:
    """A converter that knows every model (see the module docstring)."""
    converter = cattrs.Converter()
    checked = {str: "a string", bool: "a boolean", int: "an integer"}
    for type_, name in checked.items():
        converter.register_structure_hook(type_, _strict(type_, name))
        # `X | None` directly, so generated code calls one function, not cattrs' union logic.
        converter.register_structure_hook_func(
            _is(type_ | None), _strict(type_, name, nullable=True)
        )
    # Read as any string: the `Literal` documents the known values, it does not refuse others.
    converter.register_structure_hook_func(
        _is_open_enumeration, _strict(str, "a string", nullable=True)
    )
    converter.register_structure_hook(datetime, _timestamps(nullable=False))
    converter.register_structure_hook_func(_is(datetime | None), _timestamps(nullable=True))
    parsed: dict[Any, Callable[[Any, type], Any]] = {float: _number, Secret: _secret}
    for type_, hook in parsed.items():
        converter.register_structure_hook(type_, hook)
        converter.register_structure_hook_func(_is(type_ | None), _optional(hook))
    converter.register_unstructure_hook(datetime, _format_timestamp)
    converter.register_structure_hook_func(_is_homogeneous_tuple, _homogeneous_tuples(converter))
    # By predicate: registering a TypedDict as a class breaks cattrs' dispatch of `bool`.
    converter.register_structure_hook_func(_is(Rights), _keep_tree)
    converter.register_unstructure_hook_func(_is(Rights), _copy_tree)
    for cls in _MODELS:
        _register_model(converter, cls)
    return converter


converter: Final = make_converter()


def structure(data: Any, cls: type[T]) -> T:
    """Build a model from JSON, or raise `ProtocolError` saying what did not fit."""
    return structurer(cls)(data)


def _unreadable(cls: type, error: Exception) -> ProtocolError:
    detail = (
        "; ".join(cattrs.transform_error(error))
        if isinstance(error, cattrs.BaseValidationError)
        else str(error)
    )
    return ProtocolError(f"cannot read a {cls.__name__}: {detail}")


def _json_type(data: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(data), "a number" if isinstance(data, int | float) else "another type")


def unstructure(instance: Any) -> Any:
    """The JSON form of a model: wire names, no `None` values, no read-only fields."""
    return converter.unstructure(instance)


def structurer(cls: type[T]) -> Callable[[Any], T]:
    """`structure` bound to one class, its cattrs hook looked up once (streams decode with
    it, item after item)."""
    hook = converter.get_structure_hook(cls)

    def structure_one(data: Any) -> T:
        # One rule for every model: it is read from a JSON object, nothing else. (A model
        # whose fields are all optional would otherwise come out of `[]` or a string as
        # an empty instance.)
        if not isinstance(data, dict):
            raise ProtocolError(
                f"cannot read a {cls.__name__}: expected a JSON object, got {_json_type(data)}"
            )
        try:
            return hook(data, cls)  # type: ignore[no-any-return]
        except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as error:
            raise _unreadable(cls, error) from None

    return structure_one
