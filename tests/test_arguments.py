"""The one home of argument checks: one vocabulary, the same answer everywhere."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest

import c1iam
from c1iam import Criterion, RetryPolicy
from c1iam._arguments import (
    check_flag,
    check_number,
    check_page_size,
    check_positive_int,
    check_positive_number,
    check_uuid,
    optional,
)

# `<name> must be <what>, got <value>`: every message of a plain check reads so.
VOCABULARY = re.compile(r"^[\w.]+ must be .+, got .+$")


def refusal(make: Callable[[], object]) -> str:
    with pytest.raises(c1iam.InvalidArgument) as caught:
        make()
    assert isinstance(caught.value, ValueError)
    return str(caught.value)


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (check_positive_int, True),
        (check_positive_int, 0),
        (check_positive_int, 1.0),
        (check_page_size, 2**31),
        (check_number, True),
        (check_number, "1"),
        (check_positive_number, True),
        (check_positive_number, 0),
        (check_positive_number, math.inf),
        (check_positive_number, math.nan),
        (check_positive_number, None),
        (check_flag, 1),
        (check_flag, "false"),
    ],
)
def test_plain_checks_refuse_in_one_vocabulary(
    check: Callable[[str, Any], Any], value: Any
) -> None:
    message = refusal(lambda: check("size", value))
    assert VOCABULARY.match(message), message
    assert message.startswith("size must be "), message


def test_optional_lets_none_through_and_checks_the_rest() -> None:
    assert optional(check_positive_int, "n", None) is None
    assert optional(check_positive_int, "n", 3) == 3
    assert "n must be an int >= 1" in refusal(lambda: optional(check_positive_int, "n", 0))


@pytest.mark.parametrize("name", ["backoff_base", "backoff_max", "max_wait", "deadline"])
def test_the_policy_and_the_session_agree_on_numbers(name: str) -> None:
    # `True` was once a valid backoff while `timeout=True` was refused: now both are
    # refused alike, and a refusal never offers a value that is refused too.
    arguments: dict[str, Any] = {name: True}
    message = refusal(lambda: RetryPolicy(**arguments))
    assert message == f"RetryPolicy.{name} must be a positive number, got True"
    session_message = refusal(lambda: c1iam.Session("k", timeout=True))
    assert session_message == "timeout must be a positive number, got True"
    assert "None" not in refusal(lambda: c1iam.Session("k", timeout=-1))


def test_none_is_accepted_exactly_where_documented() -> None:
    assert RetryPolicy(deadline=None).deadline is None
    assert refusal(lambda: RetryPolicy(backoff_base=None)).startswith(  # type: ignore[arg-type]
        "RetryPolicy.backoff_base must be a positive number"
    )
    assert refusal(lambda: c1iam.Session("k", timeout=None)).startswith(  # type: ignore[arg-type]
        "timeout must be a positive number"
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: RetryPolicy(attempts=0),
        lambda: RetryPolicy(fail_fast=1),  # type: ignore[arg-type]
        lambda: c1iam.Session("k", max_concurrency=True),
        lambda: c1iam.Session("k", rate=0),
        lambda: c1iam.Session("k", read_ahead=0),
        lambda: c1iam.Session("k", trust_env="yes"),  # type: ignore[arg-type]
        lambda: Criterion.numeric("n", ">", True),
        lambda: Criterion.string("name", 5),  # type: ignore[arg-type]
        lambda: Criterion.boolean("b", 1),  # type: ignore[arg-type]
        lambda: Criterion.id(">", 2**63),
        lambda: Criterion.id("=>", 1),  # type: ignore[arg-type]
        lambda: Criterion.date("d", first="yesterday"),  # type: ignore[arg-type]
    ],
)
def test_the_session_policy_and_criteria_speak_the_same_vocabulary(
    make: Callable[[], object],
) -> None:
    message = refusal(make)
    assert VOCABULARY.match(message), message


def test_a_uuid_object_is_a_uuid_and_ids_are_lower_case() -> None:
    value = uuid.UUID("CC401D8F-7920-4D03-9E48-CE8EF79B4835")
    assert check_uuid("user_id", value) == "cc401d8f-7920-4d03-9e48-ce8ef79b4835"  # type: ignore[arg-type]
    assert check_uuid("user_id", str(value).upper()) == str(value)
