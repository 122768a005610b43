"""The sans-I/O core: building requests, reading answers, Retry-After. No network."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

import c1iam
from c1iam._sansio import (
    Api,
    Call,
    Response,
    build_request,
    error_from_response,
    parse_retry_after,
    path,
    read_response,
)
from tests.conftest import ERROR_CLASSES, make_settings

KEY = "key-id:very-secret-part"  # make_settings' default key


def call(method: str, where: str) -> Call:
    return Call(api=Api.ACCOUNTS, method=method, path=where)


def response(status: int, body: bytes = b"", **headers: str) -> Response:
    return Response(status=status, headers=CIMultiDict(headers), body=body)


# -- building requests ---------------------------------------------------------------------


def test_a_cloud_one_key_goes_in_one_authorization_header() -> None:
    request = build_request(Call(api=Api.WORKLOAD, method="GET", path="/roles"), make_settings())
    assert request.headers["Authorization"] == f"ApiKey {KEY}"
    assert request.headers["Api-Version"] == "v1"
    assert "api-secret-key" not in request.headers
    assert "Content-Type" not in request.headers
    assert request.url == "https://workload.us-1.cloudone.trendmicro.com/api/roles"


def test_a_legacy_key_goes_in_api_secret_key_only() -> None:
    request = build_request(
        Call(api=Api.WORKLOAD, method="GET", path="/roles"), make_settings(legacy_auth=True)
    )
    assert request.headers["api-secret-key"] == KEY
    assert "Authorization" not in request.headers


def test_a_legacy_key_cannot_call_iam() -> None:
    with pytest.raises(c1iam.InvalidArgument, match="legacy_auth"):
        build_request(
            Call(api=Api.ACCOUNTS, method="GET", path="/users"), make_settings(legacy_auth=True)
        )


def test_a_body_is_compact_json_with_its_content_type() -> None:
    call = Call(api=Api.ACCOUNTS, method="POST", path="/users/x", json={"state": "disabled"})
    request = build_request(call, make_settings())
    assert request.body is not None
    assert json.loads(request.body) == {"state": "disabled"}
    assert request.headers["Content-Type"] == "application/json"


def test_the_key_is_not_in_a_request_repr() -> None:
    request = build_request(Call(api=Api.ACCOUNTS, method="GET", path="/users"), make_settings())
    assert "very-secret-part" not in repr(request)


@given(st.text(min_size=1))
def test_path_segments_never_add_or_remove_a_slash(segment: str) -> None:
    built = path("users", segment)
    assert built.count("/") == 2
    assert all(c not in built.split("/", 2)[2] for c in "?#/ ")


# -- reading answers -----------------------------------------------------------------------


@pytest.mark.parametrize(("status", "error_class"), ERROR_CLASSES)
def test_error_statuses_map_to_their_class(status: int, error_class: type[c1iam.APIError]) -> None:
    body = json.dumps({"message": "Something went wrong.", "fields": {"roleID": "unknown"}})
    with pytest.raises(c1iam.APIError) as raised:
        read_response(call("GET", "/users"), response(status, body.encode()), now=0.0)
    assert type(raised.value) is error_class
    assert raised.value.status == status
    assert raised.value.message == "Something went wrong."
    assert raised.value.fields == {"roleID": "unknown"}
    assert "GET /users" in str(raised.value)


def test_an_html_error_page_gives_its_title() -> None:
    page = b"<html><head><title>503 Service\n Temporarily Unavailable</title></head></html>"
    error = error_from_response(
        call("GET", "/users"), response(503, page, **{"Content-Type": "text/html"}), now=0.0
    )
    assert isinstance(error, c1iam.ServiceUnavailable)
    assert "503 Service Temporarily Unavailable" in error.message


@pytest.mark.parametrize("body", [b"", b"oops", b"[1, 2]", b'{"error": "no message key"}'])
def test_bodies_without_a_message_still_read_well(body: bytes) -> None:
    error = error_from_response(call("GET", "/x"), response(500, body), now=0.0)
    assert error.message.startswith("Internal Server Error")


def test_a_200_that_is_not_json_is_a_protocol_error() -> None:
    with pytest.raises(c1iam.ProtocolError, match="not JSON"):
        read_response(call("GET", "/users"), response(200, b"<html>"), now=0.0)


@pytest.mark.parametrize("depth", [100_000, 1_000_000])
@pytest.mark.parametrize("opening", [b"[", b'{"a":'])
def test_a_depth_bomb_is_a_protocol_error(depth: int, opening: bytes) -> None:
    with pytest.raises(c1iam.ProtocolError, match="nested too deep"):
        read_response(call("GET", "/users"), response(200, opening * depth), now=0.0)


def test_a_depth_bomb_in_an_error_body_still_gives_the_api_error() -> None:
    error = error_from_response(call("GET", "/users"), response(500, b"[" * 100_000), now=0.0)
    assert isinstance(error, c1iam.ServerError)
    assert error.message.startswith("Internal Server Error")


@pytest.mark.parametrize("status", [200, 204])
def test_an_empty_success_is_none(status: int) -> None:
    assert read_response(call("DELETE", "/users/x"), response(status), now=0.0) is None


def test_headers_are_read_case_insensitively_even_from_a_dict() -> None:
    answer = Response(status=429, headers={"retry-after": "7"}, body=b"")
    assert error_from_response(call("GET", "/x"), answer, now=0.0).retry_after == 7.0


def test_an_error_echoing_headers_does_not_leak_the_key() -> None:
    echoed = json.dumps({"message": "bad"}).encode()
    error = error_from_response(call("GET", "/users"), response(401, echoed, Server="x"), now=0.0)
    assert "very-secret-part" not in str(error) + repr(error)


# -- Retry-After ---------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=10**6))
def test_retry_after_seconds(seconds: int) -> None:
    assert parse_retry_after(str(seconds), now=0.0) == seconds


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(min_value=0, max_value=86_400),
)
def test_retry_after_http_date(now: datetime, ahead: int) -> None:
    when = now + timedelta(seconds=ahead)
    parsed = parse_retry_after(format_datetime(when, usegmt=True), now=now.timestamp())
    assert parsed is not None
    # An HTTP-date has whole seconds: within one of the difference.
    assert abs(parsed - ahead) <= 1.0


def test_retry_after_http_date_uses_the_response_date_header() -> None:
    server_now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    retry_at = format_datetime(server_now + timedelta(seconds=30), usegmt=True)
    # The local clock is an hour ahead of the server's: the server's Date rules.
    local_now = (server_now + timedelta(hours=1)).timestamp()
    parsed = parse_retry_after(
        retry_at, now=local_now, response_date=format_datetime(server_now, usegmt=True)
    )
    assert parsed == 30.0


@pytest.mark.parametrize("value", [None, "", "soon", "nan", "inf", "Mon, 99 Foo 2026"])
def test_unreadable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=0.0) is None


def test_retry_after_in_every_http_date_form() -> None:
    # RFC 9110 section 5.6.7: a recipient accepts all three forms, all of them GMT.
    now = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC).timestamp()
    for form in (
        "Tue, 14 Nov 2023 22:15:20 GMT",  # IMF-fixdate
        "Tuesday, 14-Nov-23 22:15:20 GMT",  # RFC 850
        "Tue Nov 14 22:15:20 2023",  # asctime: no zone, GMT
    ):
        assert parse_retry_after(form, now=now) == 120.0, form


@pytest.mark.parametrize(
    "value",
    [
        "Wed, 21 Oct 2099 07:28:00 +99999999999999999999",
        "Wed, 99999999999999999999 Oct 2015 07:28:00 GMT",
    ],
)
def test_a_date_whose_fields_overflow_is_no_date(value: str) -> None:
    assert parse_retry_after(value, now=0.0) is None
    assert parse_retry_after("Tue, 14 Nov 2023 22:15:20 GMT", now=0.0, response_date=value)


@given(value=st.text(max_size=60), date=st.text(max_size=60))
def test_retry_after_never_raises(value: str, date: str) -> None:
    parsed = parse_retry_after(value, now=1_700_000_000.0, response_date=date)
    assert parsed is None or parsed >= 0.0


def test_a_retry_after_in_the_past_means_now() -> None:
    past = format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(past, now=datetime(2026, 1, 1, tzinfo=UTC).timestamp()) == 0.0
    assert parse_retry_after("-5", now=0.0) == 0.0


def test_a_request_carries_its_route_user_agent_and_traceable_fields() -> None:
    call = Call(api=Api.ACCOUNTS, method="GET", path="/users/abc", route="/users/{id}")
    request = build_request(call, make_settings(user_agent="audit/2"))
    assert request.headers["User-Agent"] == f"audit/2 c1iam/{c1iam.__version__}"
    assert request.description == "GET https://accounts.cloudone.trendmicro.com/api/users/abc"
    fields = request.for_attempt(3, queued_for=1.5).trace_fields()
    assert fields == {
        "method": "GET",
        "host": "accounts.cloudone.trendmicro.com",
        "route": "/users/{id}",
        "attempt": 3,
        "queued_for": 1.5,
    }
    assert KEY not in repr(fields)
    # A path without IDs is its own route.
    assert Call(api=Api.WORKLOAD, method="GET", path="/roles").route == "/roles"


def test_an_error_names_the_host_of_the_request_it_answers() -> None:
    call = Call(api=Api.WORKLOAD, method="DELETE", path="/roles/7", route="/roles/{id}")
    request = build_request(call, make_settings(workload_url="https://dsm.example:4119/api"))
    answer = Response(status=404, headers={}, body=b'{"message": "gone"}', request=request)
    error = error_from_response(call, answer, now=0.0)
    assert str(error) == "404 gone (DELETE https://dsm.example:4119/api/roles/7)"
    without_request = error_from_response(call, response(404, b'{"message": "gone"}'), now=0.0)
    assert str(without_request) == "404 gone (DELETE /roles/7)"


def test_a_retry_after_date_ignores_an_insane_server_date() -> None:
    now = 1_700_000_000.0
    when = format_datetime(datetime.fromtimestamp(now + 30, UTC), usegmt=True)
    epoch = format_datetime(datetime.fromtimestamp(0, UTC), usegmt=True)
    # A Date of 1970 would make it 1.7e9 s; the local clock is used instead.
    assert parse_retry_after(when, now=now, response_date=epoch) == pytest.approx(30.0)
    skewed = format_datetime(datetime.fromtimestamp(now - 3600, UTC), usegmt=True)
    assert parse_retry_after(when, now=now, response_date=skewed) == pytest.approx(3630.0)
