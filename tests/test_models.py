"""The models and the converter: wire names, timestamps, unknown keys, criteria."""

from __future__ import annotations

import importlib
import json
import pkgutil
import types
import typing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import c1iam
import c1iam.models
from c1iam import AdministratorRole, Criterion, User, _converter
from c1iam._converter import structure, unstructure, wire_name
from tools import rights_codegen

# -- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attribute", "wire"),
    [
        ("role_id", "roleID"),
        ("mfa_enabled", "mfaEnabled"),
        ("computer_group_ids", "computerGroupIDs"),
        ("allowed_ips", "allowedIPs"),
        ("allowed_cidrs", "allowedCIDRs"),
        (
            "can_only_manipulate_users_with_equal_or_lesser_rights",
            "canOnlyManipulateUsersWithEqualOrLesserRights",
        ),
        ("id", "id"),
    ],
)
def test_wire_names(attribute: str, wire: str) -> None:
    assert wire_name(attribute) == wire


# -- users ---------------------------------------------------------------------------------

REFERENCE_USER = {  # the example of the IAM API reference
    "id": "cc401d8f-7920-4d03-9e48-ce8ef79b4835",
    "name": "Jane Doe",
    "email": "jane@example.com",
    "roleID": "full-access",
    "locale": "en-US",
    "timezone": "America/Toronto",
    "state": "enabled",
    "mfaEnabled": True,
    "created": "2020-06-21T09:01:12Z",
    "lastModified": "2020-06-21T09:01:12.123456789+02:00",
    "lastActivity": None,
    "urn": "urn:cloudone:identity:ca-1:012345678912:user/cc401d8f-7920-4d03-9e48-ce8ef79b4835",
    "aFieldFromTheFuture": {"ignored": True},
}


def test_a_user_reads_every_documented_field() -> None:
    user = structure(REFERENCE_USER, User)
    assert user.role_id == "full-access"
    assert user.mfa_enabled is True
    assert user.created == datetime(2020, 6, 21, 9, 1, 12, tzinfo=UTC)
    assert user.last_modified == datetime(2020, 6, 21, 7, 1, 12, 123456, tzinfo=UTC)
    assert user.last_activity is None


# -- every model, found by rule --------------------------------------------------------------


def _all_models() -> list[type]:
    """Every attrs class defined in a module of `c1iam.models`, whether exported or not."""
    found = []
    for info in pkgutil.iter_modules(c1iam.models.__path__):
        module = importlib.import_module(f"c1iam.models.{info.name}")
        found += [
            value
            for value in vars(module).values()
            if isinstance(value, type) and attrs.has(value) and value.__module__ == module.__name__
        ]
    return found


MODELS = _all_models()


def _sample(hint: Any) -> Any:
    """A value of type `hint` (`X | None` taken as `X`; an open enumeration as its first
    documented value)."""
    arguments = [a for a in typing.get_args(hint) if a is not type(None)]
    literals = [a for a in arguments if typing.get_origin(a) is typing.Literal]
    if literals:
        return typing.get_args(literals[0])[0]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (hint,) = arguments
    samples: dict[Any, Any] = {
        str: "a-value",
        bool: True,
        int: 7,
        float: 1.5,
        datetime: datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        c1iam.Secret: c1iam.Secret("k:s"),
        c1iam.Rights: {"computerRights": {"canEditComputerProperties": True}},
        tuple[str, ...]: ("one", "two"),
        tuple[int, ...]: (1, 2),
        tuple[dict[str, Any], ...]: ({"name": "x"},),
    }
    return samples[hint]


def test_the_models_are_found() -> None:
    exported = {c1iam.models.User, c1iam.models.AdministratorRole, c1iam.models.Criterion}
    assert exported <= set(MODELS)
    assert {getattr(c1iam.models, name) for name in c1iam.models.__all__} & set(MODELS) == set(
        MODELS
    ), "a model that c1iam.models does not export"
    assert all(_converter.is_model(model) for model in MODELS)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.__name__)
def test_every_model_round_trips_in_camel_case(model: type) -> None:
    hints = typing.get_type_hints(model)
    full = model(**{field.name: _sample(hints[field.name]) for field in attrs.fields(model)})
    wire = unstructure(full)
    assert wire, model
    for key in wire:
        assert ("_" not in key and key[0].islower()) or key == "ID", key
    read_only = {field.name for field in attrs.fields(model)} - {
        field.name for field in attrs.fields(model) if wire_name(field.name) in wire
    }
    read: Any = structure(json.loads(json.dumps(wire)), model)
    # What is written is read back alike; read-only fields are not written at all.
    assert attrs.evolve(read, **{name: getattr(full, name) for name in read_only}) == full
    assert unstructure(read) == wire


def test_a_new_model_file_needs_no_registration(tmp_path: Path) -> None:
    # A model defined in a new module of c1iam.models is read and written by the rule.
    @attrs.frozen(kw_only=True)
    class Group:
        group_id: str
        member_ids: tuple[str, ...] | None = None

    Group.__module__ = "c1iam.models.groups"
    assert unstructure(Group(group_id="g", member_ids=("a",))) == {
        "groupID": "g",
        "memberIDs": ["a"],
    }
    assert structure({"groupID": "g", "unknown": 1}, Group) == Group(group_id="g")


def test_an_attrs_class_outside_the_models_is_refused_loudly() -> None:
    @attrs.frozen
    class Stray:
        role_id: str

    with pytest.raises(TypeError, match="not a model"):
        structure({"roleID": "admin"}, Stray)
    with pytest.raises(TypeError, match="not a model"):
        unstructure(Stray("admin"))


@pytest.mark.parametrize("wrong", ["10.0.0.1", {"10.0.0.0/8": True}, 5])
def test_a_list_field_takes_only_a_list(wrong: Any) -> None:
    # cattrs' own tuple hook takes any iterable: a string would become its characters.
    with pytest.raises(c1iam.ProtocolError, match="allowed_ips"):
        structure({"id": "k", "allowedIPs": wrong}, c1iam.ApiKey)
    assert structure({"id": "k", "allowedIPs": ["10.0.0.1"]}, c1iam.ApiKey).allowed_ips == (
        "10.0.0.1",
    )


def test_a_timestamp_without_offset_is_utc() -> None:
    user = structure({"id": "x", "created": "2020-06-21T09:01:12"}, User)
    assert user.created == datetime(2020, 6, 21, 9, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "no id"},
        {"id": 5},
        {"id": "x", "mfaEnabled": "yes"},
        {"id": "x", "created": "yesterday"},
        {"id": "x", "created": 1592730072},
        [],
    ],
)
def test_wrong_shapes_are_protocol_errors(bad: Any) -> None:
    with pytest.raises(c1iam.ProtocolError, match="User"):
        structure(bad, User)


aware_datetimes = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
optional_text = st.none() | st.text(max_size=20)


@given(
    st.builds(
        User,
        id=st.uuids().map(str),
        name=optional_text,
        email=optional_text,
        role_id=optional_text,
        state=st.none() | st.sampled_from(["enabled", "disabled", "locked"]),
        mfa_enabled=st.none() | st.booleans(),
        created=st.none() | aware_datetimes,
        last_modified=st.none() | aware_datetimes,
        last_activity=st.none() | aware_datetimes,
        urn=optional_text,
    )
)
def test_users_survive_a_round_trip(user: User) -> None:
    assert structure(json.loads(json.dumps(unstructure(user))), User) == user


# -- administrator roles -------------------------------------------------------------------


def test_a_role_never_writes_its_read_only_fields_or_nones() -> None:
    role = AdministratorRole(id=7, urn="urn:x", immutable=True, name="n", description=None)
    assert unstructure(role) == {"name": "n"}


rights_trees = st.recursive(
    st.booleans(),
    lambda children: st.dictionaries(st.text(min_size=1, max_size=12), children, max_size=4),
    max_leaves=20,
).filter(lambda tree: isinstance(tree, dict))


@given(
    rights=rights_trees,
    ids=st.none() | st.lists(st.integers(0, 2**31 - 1), max_size=5),
    name=optional_text,
    flag=st.none() | st.booleans(),
)
def test_a_role_read_and_sent_back_loses_nothing(
    rights: dict[str, Any], ids: list[int] | None, name: str | None, flag: bool | None
) -> None:
    wire: dict[str, Any] = {"ID": 3, "urn": "urn:x", "immutable": False, "rights": rights}
    for key, value in (("name", name), ("allComputers", flag), ("computerIDs", ids)):
        if value is not None:
            wire[key] = value
    role = structure(wire, AdministratorRole)
    sent = unstructure(role)
    assert sent == {k: v for k, v in wire.items() if k not in {"ID", "urn", "immutable"}}


def test_a_role_does_not_share_its_rights_with_the_answer() -> None:
    wire: dict[str, Any] = {
        "ID": 1,
        "rights": {"platformRights": {"computerRights": {"canEdit": True}}},
    }
    role = structure(wire, AdministratorRole)
    wire["rights"]["platformRights"]["computerRights"]["canEdit"] = False
    assert role.rights == {"platformRights": {"computerRights": {"canEdit": True}}}


def test_the_generated_rights_module_is_current() -> None:
    spec = json.loads(rights_codegen.SPEC.read_text())
    assert rights_codegen.generate(spec) == rights_codegen.TARGET.read_text(), (
        "c1iam/models/_rights.py is stale: run python -m tools.rights_codegen"
    )


# -- criteria ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "word"),
    [
        ("<", "less-than"),
        ("<=", "less-than-or-equal"),
        ("==", "equal"),
        (">=", "greater-than-or-equal"),
        (">", "greater-than"),
        ("!=", "not-equal"),
        ("less-than", "less-than"),
    ],
)
def test_operators(symbol: Any, word: str) -> None:
    assert unstructure(Criterion.id(symbol, 5)) == {"idTest": word, "idValue": 5}
    assert unstructure(Criterion.numeric("n", symbol, 1.5))["numericTest"] == word
    assert unstructure(Criterion.version("v", symbol, "20.0"))["versionTest"] == word


def test_every_criterion_writes_the_api_fields() -> None:
    first = datetime(2026, 1, 1, tzinfo=UTC)
    last = first + timedelta(days=1)
    assert unstructure(Criterion.string("name", "Aud%", negate=True)) == {
        "fieldName": "name", "stringTest": "not-equal", "stringValue": "Aud%",
        "stringWildcards": True,
    }  # fmt: skip
    assert unstructure(Criterion.boolean("allComputers", False)) == {
        "fieldName": "allComputers", "booleanTest": False,
    }  # fmt: skip
    assert unstructure(Criterion.choice("platform", "linux")) == {
        "fieldName": "platform", "choiceTest": "equal", "choiceValue": "linux",
    }  # fmt: skip
    assert unstructure(Criterion.null("description")) == {
        "fieldName": "description", "nullTest": True,
    }  # fmt: skip
    assert unstructure(Criterion.date("created", first=first, last=last, last_inclusive=False)) == {
        "fieldName": "created",
        "firstDateValue": int(first.timestamp() * 1000),
        "firstDateInclusive": True,
        "lastDateValue": int(last.timestamp() * 1000),
        "lastDateInclusive": False,
    }


@pytest.mark.parametrize(
    "build",
    [
        lambda: Criterion.id("=", 5),  # type: ignore[arg-type]
        lambda: Criterion.id(">", "5"),  # type: ignore[arg-type]
        lambda: Criterion.numeric("n", ">", True),
        lambda: Criterion.string("", "x"),
        lambda: Criterion.string("name", 5),  # type: ignore[arg-type]
        lambda: Criterion.boolean("allComputers", "yes"),  # type: ignore[arg-type]
        lambda: Criterion.date("created"),
        lambda: Criterion.date("created", first=datetime(2026, 1, 1)),
        lambda: Criterion.date(
            "created", first=datetime(2026, 1, 2, tzinfo=UTC), last=datetime(2026, 1, 1, tzinfo=UTC)
        ),
    ],
)
def test_bad_criteria_are_refused(build: Any) -> None:
    with pytest.raises(c1iam.InvalidArgument):
        build()


def test_a_date_criterion_takes_any_time_zone() -> None:
    eastern = timezone(timedelta(hours=-5))
    moment = datetime(2026, 1, 1, 7, tzinfo=eastern)
    assert unstructure(Criterion.date("created", first=moment))["firstDateValue"] == int(
        datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp() * 1000
    )


@pytest.mark.parametrize(
    ("wire", "model", "field"),
    [
        ({"id": "k", "secret": 5}, c1iam.ApiKey, "secret"),
        ({"numericValue": "5"}, Criterion, "numeric_value"),
        ({"numericValue": True}, Criterion, "numeric_value"),
        ({"rights": ["canView"]}, AdministratorRole, "rights"),
    ],
)
def test_a_field_of_the_wrong_kind_is_named(wire: dict[str, Any], model: type, field: str) -> None:
    with pytest.raises(c1iam.ProtocolError, match=field):
        structure(wire, model)


def test_rights_keep_lists_and_are_copied() -> None:
    wire: dict[str, Any] = {"rights": {"extra": [{"canView": True}]}}
    role = structure(wire, AdministratorRole)
    wire["rights"]["extra"][0]["canView"] = False
    kept: Any = role.rights  # a key the spec does not know, so not in the TypedDict
    assert kept == {"extra": [{"canView": True}]}


def test_datetimes_without_a_zone_are_utc_both_ways() -> None:
    naive = datetime(2020, 6, 21, 9, 1, 12)
    assert unstructure(User(id="x", created=naive))["created"] == "2020-06-21T09:01:12Z"
    read = structure({"id": "x", "created": naive}, User)
    assert read.created == naive.replace(tzinfo=UTC)
