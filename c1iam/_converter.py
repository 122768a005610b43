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

Models are found by rule, not listed: every attrs class defined in `c1iam.models` (and its
submodules) gets these hooks the first time it is read or written, so a new model file
needs no registration. Any other attrs class is refused loudly by `structure`,
`structurer` and `unstructure`, never read with cattrs' snake_case defaults.

Reading is the CPU cost of a stream (a page of 100 users is decoded while the next is
fetched): each model is read by cattrs' generated function, its field hooks strict and
cheap (one call per field, `X | None` included). A hand-generated reader was measured
against it on the stream benchmark and removed (benchmarks/README.md).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from . import models
from ._auth import Secret
from ._errors import ProtocolError
from .models import AdministratorRole, ApiKey, Rights

__all__ = ["converter", "is_model", "structure", "structurer", "unstructure", "wire_name"]

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


def is_model(cls: Any) -> bool:
    """Whether `cls` is a model: an attrs class defined in `c1iam.models`."""
    return (
        isinstance(cls, type)
        and attrs.has(cls)
        and (cls.__module__ + ".").startswith(models.__name__ + ".")
    )


def _wire_names(cls: type) -> dict[str, str]:
    exceptions = _EXCEPTIONS.get(cls, {})
    return {
        field.name: exceptions.get(field.name, wire_name(field.name)) for field in attrs.fields(cls)
    }


def _model_structure_hook(cls: type, converter: cattrs.Converter) -> Callable[[Any, type], Any]:
    overrides: dict[str, Any] = {
        name: override(rename=wire) for name, wire in _wire_names(cls).items()
    }
    hook: Callable[[Any, type], Any] = make_dict_structure_fn(cls, converter, **overrides)
    return hook


def _model_unstructure_hook(cls: type, converter: cattrs.Converter) -> Callable[[Any], Any]:
    read_only = _READ_ONLY.get(cls, frozenset())
    overrides: dict[str, Any] = {
        name: override(rename=wire, omit=name in read_only)
        for name, wire in _wire_names(cls).items()
    }
    unstructure_fields: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
        cls, converter, **overrides
    )

    def unstructure_without_nones(instance: Any) -> dict[str, Any]:
        return {k: v for k, v in unstructure_fields(instance).items() if v is not None}

    return unstructure_without_nones


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
    # Every model by rule (see the module docstring); the hooks are made on first use.
    converter.register_structure_hook_factory(is_model, _model_structure_hook)
    converter.register_unstructure_hook_factory(is_model, _model_unstructure_hook)
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


def _check_model(cls: Any) -> None:
    # An attrs class outside `c1iam.models` would be read and written with cattrs'
    # defaults (snake_case keys, no strict checks): a bug, never a server's fault.
    if not is_model(cls):
        raise TypeError(f"{cls!r} is not a model: models are attrs classes in c1iam.models")


def unstructure(instance: Any) -> Any:
    """The JSON form of a model: wire names, no `None` values, no read-only fields."""
    _check_model(type(instance))
    return converter.unstructure(instance)


def structurer(cls: type[T]) -> Callable[[Any], T]:
    """`structure` bound to one class, its cattrs hook looked up once (streams decode with
    it, item after item)."""
    _check_model(cls)
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
