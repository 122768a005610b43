"""The models and the converter: wire names, timestamps, unknown keys, criteria."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import c1iam
from c1iam import AdministratorRole, Criterion, User, _converter
from c1iam._converter import READERS, _without_none, structure, unstructure, wire_name
from tests import rights_codegen

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


TIMESTAMPS = st.sampled_from(
    ["2020-06-21T09:01:12Z", "2020-06-21T09:01:12.123+05:30", "2020-06-21T09:01:12", "June"]
)
# Values of the right kind for a field's type (its `X | None` stripped), mostly.
RIGHT_KIND: dict[Any, st.SearchStrategy[Any]] = {
    str: st.text(max_size=8),
    bool: st.booleans(),
    int: st.integers(min_value=-(2**31), max_value=2**31),
    float: st.floats(allow_nan=False),
    datetime: TIMESTAMPS,
    c1iam.Secret: st.text(max_size=8),
    tuple[str, ...]: st.lists(st.text(max_size=4), max_size=3),
    tuple[int, ...]: st.lists(st.integers(), max_size=3),
}
# Values of every JSON kind a field may meet, right or wrong for it.
JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    TIMESTAMPS,
    st.lists(st.sampled_from(["10.0.0.1", "urn:x", 5]), max_size=3),
    st.dictionaries(st.sampled_from(["canView", "rel"]), st.booleans(), max_size=2),
)


@pytest.mark.parametrize("cls", list(READERS), ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_the_fast_reader_accepts_only_what_cattrs_accepts_and_reads_it_alike(
    cls: type, data: st.DataObject
) -> None:
    fast, detailed = READERS[cls]
    hints = typing.get_type_hints(cls)
    fields = {
        ("ID" if cls is AdministratorRole and field.name == "id" else wire_name(field.name)): hints[
            field.name
        ]
        for field in attrs.fields(cls)
    }
    document: dict[str, Any] = {}
    for name, hint in fields.items():
        bare = _without_none(hint)
        choice = data.draw(st.sampled_from(["right"] * 6 + ["missing", "any"]))
        if choice == "right" and bare in RIGHT_KIND:
            document[name] = data.draw(RIGHT_KIND[bare], label=name)
        elif choice != "missing":
            document[name] = data.draw(JSON_VALUES, label=name)
    try:
        read = fast(document)
    except Exception:  # the fast path gave up: cattrs decides, nothing to compare
        event("fast path gave up")
        return
    event("fast path read it")
    assert read == detailed(document, cls)


@pytest.mark.parametrize("wrong", ["10.0.0.1", {"10.0.0.0/8": True}, 5])
def test_a_list_field_takes_only_a_list(wrong: Any) -> None:
    # cattrs' own tuple hook takes any iterable: a string would become its characters.
    with pytest.raises(c1iam.ProtocolError, match="allowed_ips"):
        structure({"id": "k", "allowedIPs": wrong}, c1iam.ApiKey)
    assert structure({"id": "k", "allowedIPs": ["10.0.0.1"]}, c1iam.ApiKey).allowed_ips == (
        "10.0.0.1",
    )


@attrs.frozen(kw_only=True)
class _Unusual:
    """Defaults no model has today, which the fast reader must still get right."""

    id: str
    score: float = None  # type: ignore[assignment]  # a None default, but not `float | None`
    tags: tuple[str, ...] = attrs.Factory(tuple)


def test_the_fast_reader_leaves_unusual_defaults_to_cattrs() -> None:
    converter = _converter.make_converter()
    _converter._register_model(converter, _Unusual)
    fast = _converter._fast_structure(
        converter, _Unusual, {"id": "id", "score": "score", "tags": "tags"}
    )
    assert fast({"id": "a", "score": 1.5, "tags": ["x"]}) == _Unusual(
        id="a", score=1.5, tags=("x",)
    )
    with pytest.raises(ValueError, match="number"):
        fast({"id": "a", "score": None, "tags": []})  # cattrs refuses null for a float
    with pytest.raises(KeyError):
        fast({"id": "a", "score": 1.0})  # a factory default: cattrs makes it
    assert converter.structure({"id": "a", "score": 1.0}, _Unusual).tags == ()


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


def test_the_rights_types_match_the_spec() -> None:
    spec = json.loads(rights_codegen.SPEC.read_text())
    assert rights_codegen.generate(spec) == rights_codegen.TARGET.read_text(), (
        "c1iam/models/_rights.py is stale: run python -m tests.rights_codegen"
    )


def test_the_spec_copy_matches_the_shared_spec() -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "specs" / rights_codegen.SPEC.name
    if not shared.exists():
        pytest.skip("../shared is not beside this checkout")
    assert json.loads(shared.read_text()) == json.loads(rights_codegen.SPEC.read_text())


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
