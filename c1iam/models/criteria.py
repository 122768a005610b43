"""Search criteria for the Workload Security / Deep Security search operations.

One constructor per test of the API's `searchCriteria` schema. Criteria are ANDed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

import attrs

from .._arguments import check_flag, check_int64, check_number, check_str
from .._errors import InvalidArgument

__all__ = ["Criterion", "Operator"]

Operator = Literal[
    "<",
    "<=",
    "==",
    ">=",
    ">",
    "!=",
    "less-than",
    "less-than-or-equal",
    "equal",
    "greater-than-or-equal",
    "greater-than",
    "not-equal",
]

_OPERATORS: Final = {
    "<": "less-than",
    "<=": "less-than-or-equal",
    "==": "equal",
    ">=": "greater-than-or-equal",
    ">": "greater-than",
    "!=": "not-equal",
}
_API_OPERATORS: Final = frozenset(_OPERATORS.values())


def _operator(op: str) -> str:
    if op in _API_OPERATORS:
        return op
    if op in _OPERATORS:
        return _OPERATORS[op]
    raise InvalidArgument(
        f"op must be one of {', '.join(_OPERATORS)} "
        f"or {', '.join(sorted(_API_OPERATORS))}, got {op!r}"
    )


def _field(name: str) -> str:
    if not isinstance(name, str) or not name or name != name.strip():
        raise InvalidArgument(f"field must be a field name such as 'name', got {name!r}")
    return name


def _epoch_milliseconds(name: str, value: datetime | int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidArgument(
                f"{name} must be an aware datetime (with a time zone), got {value!r}"
            )
        return round(value.timestamp() * 1000)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidArgument(f"{name} must be an aware datetime or epoch milliseconds, got {value!r}")


@attrs.frozen(kw_only=True)
class Criterion:
    """One search criterion. Build it with a constructor: `Criterion.string(...)`, ...

    The attributes mirror the API's `searchCriteria` fields; only those with a value
    are sent.
    """

    field_name: str | None = None
    id_test: str | None = None
    id_value: int | None = None
    string_test: str | None = None
    string_value: str | None = None
    string_wildcards: bool | None = None
    boolean_test: bool | None = None
    numeric_test: str | None = None
    numeric_value: float | None = None
    choice_test: str | None = None
    choice_value: str | None = None
    version_test: str | None = None
    version_value: str | None = None
    first_date_value: int | None = None
    first_date_inclusive: bool | None = None
    last_date_value: int | None = None
    last_date_inclusive: bool | None = None
    null_test: bool | None = None

    @classmethod
    def string(
        cls, field: str, value: str, *, wildcards: bool = True, negate: bool = False
    ) -> Criterion:
        """`field` equals `value` (`%` matches any run, `_` one character, unless
        `wildcards=False`); `negate=True` for "not equal"."""
        return cls(
            field_name=_field(field),
            string_test="not-equal" if check_flag("negate", negate) else "equal",
            string_value=check_str("value", value),
            string_wildcards=check_flag("wildcards", wildcards),
        )

    @classmethod
    def boolean(cls, field: str, value: bool = True) -> Criterion:
        """`field` is `value`."""
        return cls(field_name=_field(field), boolean_test=check_flag("value", value))

    @classmethod
    def numeric(cls, field: str, op: Operator, value: float) -> Criterion:
        """`field <op> value`, e.g. `Criterion.numeric("count", ">=", 3)`."""
        return cls(
            field_name=_field(field),
            numeric_test=_operator(op),
            numeric_value=check_number("value", value),
        )

    @classmethod
    def id(cls, op: Operator, value: int) -> Criterion:
        """The object's ID `<op> value`."""
        return cls(id_test=_operator(op), id_value=check_int64("value", value))

    @classmethod
    def choice(cls, field: str, value: str, *, negate: bool = False) -> Criterion:
        """The enum `field` is `value` (`negate=True`: is not)."""
        return cls(
            field_name=_field(field),
            choice_test="not-equal" if check_flag("negate", negate) else "equal",
            choice_value=check_str("value", value),
        )

    @classmethod
    def version(cls, field: str, op: Operator, value: str) -> Criterion:
        """The version `field <op> value`: `Criterion.version("agentVersion", ">=", "20.0")`."""
        return cls(
            field_name=_field(field),
            version_test=_operator(op),
            version_value=check_str("value", value),
        )

    @classmethod
    def date(
        cls,
        field: str,
        *,
        first: datetime | int | None = None,
        last: datetime | int | None = None,
        first_inclusive: bool = True,
        last_inclusive: bool = True,
    ) -> Criterion:
        """`field` lies between `first` and `last` (aware datetimes or epoch milliseconds;
        `None` leaves that end open)."""
        first_ms = _epoch_milliseconds("first", first)
        last_ms = _epoch_milliseconds("last", last)
        if first_ms is None and last_ms is None:
            raise InvalidArgument("a date criterion needs first=, last= or both")
        if first_ms is not None and last_ms is not None and first_ms > last_ms:
            raise InvalidArgument("a date criterion's first is after its last")
        return cls(
            field_name=_field(field),
            first_date_value=first_ms,
            first_date_inclusive=check_flag("first_inclusive", first_inclusive)
            if first_ms is not None
            else None,
            last_date_value=last_ms,
            last_date_inclusive=check_flag("last_inclusive", last_inclusive)
            if last_ms is not None
            else None,
        )

    @classmethod
    def null(cls, field: str, is_null: bool = True) -> Criterion:
        """`field` is null (`is_null=False`: is not null)."""
        return cls(field_name=_field(field), null_test=check_flag("is_null", is_null))
