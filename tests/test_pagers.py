"""The pure pagers, property-tested.

They are driven by small pure models of the two servers' paging, so that Hypothesis can
try thousands of sizes, page sizes, caps and resume points.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from c1iam import InvalidArgument, ProtocolError
from c1iam._pagers import (
    MAX_EMPTY_PAGES_IN_A_ROW,
    REMEMBERED_CURSORS,
    CursorPager,
    IdPager,
    Pager,
)
from c1iam._sansio import Call

# -- pure models of the two servers' paging ------------------------------------------------


def iam_model(ids: list[int], *, cap: int | None) -> Callable[[Call], dict[str, Any]]:
    """IAM: `limit` (capped), an opaque base64 cursor holding the next index."""

    def answer(call: Call) -> dict[str, Any]:
        params = dict(call.params)
        limit = int(params["limit"])
        limit = min(limit, cap) if cap else limit
        start = int(base64.b64decode(params["cursor"])) if "cursor" in params else 0
        page = ids[start : start + limit]
        body: dict[str, Any] = {"users": [{"id": i} for i in page]}
        if start + limit < len(ids):
            body["next"] = base64.b64encode(str(start + limit).encode()).decode()
        return body

    return answer


def search_model(ids: list[int], *, cap: int | None) -> Callable[[Call], dict[str, Any]]:
    """Deep Security: `ID > idValue`, sorted by ID, at most min(maxItems, cap)."""

    def answer(call: Call) -> dict[str, Any]:
        body = call.json
        (id_test,) = [c for c in body["searchCriteria"] if c.get("idTest")]
        assert id_test["idTest"] == "greater-than"
        assert body["sortByObjectID"] is True
        limit = min(body["maxItems"], cap) if cap else body["maxItems"]
        matching = sorted(i for i in ids if i > id_test["idValue"])
        return {"roles": [{"ID": i} for i in matching[:limit]]}

    return answer


def drive(
    pager: Pager, server: Callable[[Call], dict[str, Any]]
) -> list[tuple[list[Any], str | None]]:
    """Run a pager to its end: the (IDs, cursor) of every step."""
    steps = []
    while (call := pager.next_call()) is not None:
        step = pager.feed(server(call))
        steps.append(([item.get("id", item.get("ID")) for item in step.items], step.cursor))
    return steps


sizes = st.integers(min_value=0, max_value=120)
page_sizes = st.integers(min_value=1, max_value=40)
caps = st.none() | st.integers(min_value=1, max_value=40)


@given(total=sizes, page_size=page_sizes, cap=caps)
def test_cursor_pager_lists_everything_once_in_order(
    total: int, page_size: int, cap: int | None
) -> None:
    ids = list(range(total))
    steps = drive(
        CursorPager(path="/users", items_key="users", page_size=page_size), iam_model(ids, cap=cap)
    )
    assert [i for items, _ in steps for i in items] == ids
    assert steps[-1][1] is None
    assert all(cursor is not None for _, cursor in steps[:-1])


@given(total=sizes, page_size=page_sizes, cap=caps, data=st.data())
def test_cursor_pager_resumes_right_after_any_page(
    total: int, page_size: int, cap: int | None, data: st.DataObject
) -> None:
    ids = list(range(total))
    server = iam_model(ids, cap=cap)
    steps = drive(CursorPager(path="/users", items_key="users", page_size=page_size), server)
    index = data.draw(st.integers(0, len(steps) - 1))
    seen = [i for items, _ in steps[: index + 1] for i in items]
    cursor = steps[index][1]
    rest = (
        []
        if cursor is None
        else drive(
            CursorPager(path="/users", items_key="users", page_size=page_size, cursor=cursor),
            server,
        )
    )
    assert seen + [i for items, _ in rest for i in items] == ids


@given(total=sizes, page_size=page_sizes, cap=caps, max_items=st.integers(1, 150))
def test_cursor_pager_stops_at_max_items_with_a_resumable_cursor(
    total: int, page_size: int, cap: int | None, max_items: int
) -> None:
    ids = list(range(total))
    server = iam_model(ids, cap=cap)
    steps = drive(
        CursorPager(path="/users", items_key="users", page_size=page_size, max_items=max_items),
        server,
    )
    listed = [i for items, _ in steps for i in items]
    assert listed == ids[:max_items]
    if steps[-1][1] is not None:
        rest = drive(CursorPager(path="/users", items_key="users", cursor=steps[-1][1]), server)
        assert listed + [i for items, _ in rest for i in items] == ids


@given(
    ids=st.lists(st.integers(1, 2**31 - 1), unique=True, max_size=120),
    page_size=page_sizes,
    cap=caps,
)
def test_id_pager_lists_everything_once_in_order_even_when_the_server_caps(
    ids: list[int], page_size: int, cap: int | None
) -> None:
    steps = drive(
        IdPager(path="/roles/search", items_key="roles", page_size=page_size),
        search_model(ids, cap=cap),
    )
    assert [i for items, _ in steps for i in items] == sorted(ids)
    # The end is the empty page, never a short one.
    assert steps[-1] == ([], None)


@given(
    ids=st.lists(st.integers(1, 10_000), unique=True, max_size=80),
    page_size=page_sizes,
    data=st.data(),
)
def test_id_pager_resumes_from_any_cursor(
    ids: list[int], page_size: int, data: st.DataObject
) -> None:
    server = search_model(ids, cap=None)
    steps = drive(IdPager(path="/roles/search", items_key="roles", page_size=page_size), server)
    index = data.draw(st.integers(0, len(steps) - 1))
    cursor = steps[index][1]
    seen = [i for items, _ in steps[: index + 1] for i in items]
    rest = (
        []
        if cursor is None
        else drive(IdPager(path="/roles/search", items_key="roles", cursor=cursor), server)
    )
    assert seen + [i for items, _ in rest for i in items] == sorted(ids)


def test_id_pager_keeps_the_callers_criteria() -> None:
    criterion = {"fieldName": "name", "stringTest": "equal", "stringValue": "a%"}
    pager = IdPager(path="/roles/search", items_key="roles", criteria=[criterion])
    call = pager.next_call()
    assert call is not None
    assert call.json["searchCriteria"] == [criterion, {"idTest": "greater-than", "idValue": 0}]


def test_repeated_cursor_is_a_protocol_error() -> None:
    pager = CursorPager(path="/users", items_key="users")
    pager.feed({"users": [{"id": 1}], "next": "abc"})
    with pytest.raises(ProtocolError, match="repeated"):
        pager.feed({"users": [{"id": 2}], "next": "abc"})


def test_a_cursor_repeated_after_many_pages_is_still_caught() -> None:
    pager = CursorPager(path="/users", items_key="users")
    pager.feed({"users": [{"id": 0}], "next": "first"})
    for index in range(1, 200):
        pager.feed({"users": [{"id": index}], "next": f"cursor-{index}"})
    with pytest.raises(ProtocolError, match="repeated"):
        pager.feed({"users": [{"id": 200}], "next": "first"})


def test_remembered_cursors_are_bounded_hashes() -> None:
    pager = CursorPager(path="/users", items_key="users")
    huge = "x" * 100_000
    for index in range(2 * REMEMBERED_CURSORS):
        pager.feed({"users": [{"id": index}], "next": f"{huge}{index}"})
    remembered = pager._recent_cursors._known
    assert len(remembered) == REMEMBERED_CURSORS
    assert all(len(digest) == 16 for digest in remembered)


def test_empty_pages_in_a_row_beyond_the_bound_are_a_protocol_error() -> None:
    pager = CursorPager(path="/users", items_key="users")
    for index in range(MAX_EMPTY_PAGES_IN_A_ROW):
        assert pager.feed({"users": [], "next": f"c{index}"}).cursor == f"c{index}"
    with pytest.raises(ProtocolError, match="no progress"):
        pager.feed({"users": [], "next": "one-more"})


def test_a_page_with_items_resets_the_empty_run() -> None:
    pager = CursorPager(path="/users", items_key="users")
    for run in range(3):
        for index in range(MAX_EMPTY_PAGES_IN_A_ROW):
            pager.feed({"users": [], "next": f"r{run}-{index}"})
        pager.feed({"users": [{"id": run}], "next": f"r{run}-items"})
    assert pager.next_call() is not None


def test_max_items_bounds_the_pages_without_items() -> None:
    pager = CursorPager(path="/users", items_key="users", max_items=3)
    pager.feed({"users": [{"id": 1}], "next": "a"})
    for index in range(3):
        pager.feed({"users": [], "next": f"empty-{index}"})
    with pytest.raises(ProtocolError, match="at most 3 items"):
        pager.feed({"users": [], "next": "empty-3"})


@pytest.mark.parametrize("next_value", [None, ""])
def test_null_or_empty_next_ends_the_listing(next_value: str | None) -> None:
    pager = CursorPager(path="/users", items_key="users")
    step = pager.feed({"users": [{"id": 1}], "next": next_value})
    assert step.cursor is None
    assert pager.next_call() is None


def test_empty_page_with_next_is_followed() -> None:
    pager = CursorPager(path="/users", items_key="users")
    assert pager.feed({"users": [], "next": "more"}).cursor == "more"
    call = pager.next_call()
    assert call is not None
    assert ("cursor", "more") in call.params


@pytest.mark.parametrize(
    "page",
    [
        [{"ID": 5}, {"ID": 5}],
        [{"ID": 7}, {"ID": 3}],
        [{"ID": "7"}],
        [{"ID": True}],
        [{"name": "no id"}],
    ],
)
def test_ids_that_do_not_strictly_increase_are_a_protocol_error(page: list[dict[str, Any]]) -> None:
    pager = IdPager(path="/roles/search", items_key="roles")
    with pytest.raises(ProtocolError):
        pager.feed({"roles": page})


def test_a_page_that_goes_back_below_the_cursor_is_a_protocol_error() -> None:
    pager = IdPager(path="/roles/search", items_key="roles", cursor="10")
    with pytest.raises(ProtocolError, match="out of ID order"):
        pager.feed({"roles": [{"ID": 10}]})


@pytest.mark.parametrize("body", [[], {"users": {}}, {"users": [1, 2]}, {"nope": []}, "text"])
def test_malformed_pages_are_protocol_errors(body: Any) -> None:
    with pytest.raises(ProtocolError):
        CursorPager(path="/users", items_key="users").feed(body)


@pytest.mark.parametrize(
    ("pager_class", "kwargs"),
    [
        (CursorPager, {"page_size": 0}),
        (CursorPager, {"page_size": -1}),
        (CursorPager, {"page_size": True}),
        (CursorPager, {"max_items": 0}),
        (CursorPager, {"cursor": ""}),
        (IdPager, {"page_size": 1.5}),
        (IdPager, {"cursor": "abc"}),
        (IdPager, {"cursor": "-1"}),
        (IdPager, {"cursor": "١٢"}),  # Arabic-Indic digits: isdigit() but not an ID
        (IdPager, {"cursor": "99999999999999999999999"}),  # beyond any role ID (int32)
    ],
)
def test_bad_paging_arguments_are_refused(pager_class: type[Any], kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument):
        pager_class(path="/x", items_key="x", **kwargs)
