"""Session settings: the key, regions, base URLs, loopback-only plain HTTP."""

from __future__ import annotations

import pickle
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme

import c1iam
from c1iam._auth import Secret
from c1iam._config import REGIONS, check_base_url, proxy_for
from tests.conftest import make_settings


def test_the_key_comes_from_the_environment() -> None:
    settings = make_settings(None, {"C1IAM_API_KEY": "from:env"})
    assert settings.api_key.reveal() == "from:env"


def test_a_missing_key_names_the_variable() -> None:
    with pytest.raises(ValueError, match="C1IAM_API_KEY"):
        make_settings(None)


@pytest.mark.parametrize(
    "key",
    [
        "",
        " id:secret",
        "id:secret\n",
        "id:se\ncret",
        "id:se\x01cret",  # any control character, not only CR, LF and NUL
        "id:se\tcret",
        "id:se\x7fcret",
        "id:se cret",
        "id:sécret",
    ],
)
def test_a_key_that_would_break_a_header_is_refused(key: str) -> None:
    with pytest.raises(c1iam.InvalidArgument) as caught:
        make_settings(key)
    if key:
        assert "se" + "cret" not in str(caught.value)  # the key is never quoted


def test_a_key_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(c1iam.InvalidArgument, match="str"):
        make_settings(b"id:secret")  # type: ignore[arg-type]


def test_the_answer_size_cap_is_configurable_and_checked() -> None:
    assert make_settings().max_answer_size == 32 * 1024 * 1024
    assert make_settings(max_answer_size=1024).max_answer_size == 1024
    with pytest.raises(c1iam.InvalidArgument, match="max_answer_size"):
        make_settings(max_answer_size=0)


@pytest.mark.parametrize("region", REGIONS)
def test_every_region_has_its_workload_url(region: str) -> None:
    settings = make_settings(region=region)
    assert settings.workload_url == f"https://workload.{region}.cloudone.trendmicro.com/api"
    assert settings.accounts_url == "https://accounts.cloudone.trendmicro.com/api"


def test_the_region_comes_from_the_environment() -> None:
    assert make_settings(environ={"C1IAM_REGION": "jp-1"}).region == "jp-1"


def test_an_unknown_region_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"known regions: us-1, in-1"):
        make_settings(region="us-2")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/api",
        "http://127.0.0.5/api",
        "http://[::1]:4119/api",
        "http://localhost/api",
        "https://dsm.example.com:4119/api",
    ],
)
def test_https_anywhere_and_plain_http_to_loopback(url: str) -> None:
    assert check_base_url(url + "/", name="workload_url") == url


@pytest.mark.parametrize(
    "url",
    [
        "http://dsm.example.com/api",
        "http://127.0.0.1.evil.example/api",
        "http://localhost.evil.example/api",
        "http://10.0.0.1/api",
        "http://0.0.0.0/api",
        "http://[::ffff:10.0.0.1]/api",
        "ftp://127.0.0.1/api",
        "dsm:4119/api",
        "https://user:password@dsm.example.com/api",
    ],
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(c1iam.InvalidArgument, match="workload_url"):
        check_base_url(url, name="workload_url")


@pytest.mark.parametrize(
    "options",
    [{"max_concurrency": 0}, {"max_concurrency": 2.5}, {"rate": 0}, {"rate": -1}, {"timeout": 0}],
)
def test_bad_numbers_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(c1iam.InvalidArgument):
        make_settings(**options)


def test_the_key_is_in_no_repr_and_cannot_be_pickled() -> None:
    settings = make_settings("key-id:the-secret")
    assert "the-secret" not in repr(settings) + str(settings.api_key)
    assert settings.api_key.key_id == "key-id"
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(settings.api_key)
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")


def test_proxies_come_from_the_environment_lower_case_first() -> None:
    environ = {
        "HTTPS_PROXY": "http://upper:3128",
        "https_proxy": "http://lower:3128",
        "HTTP_PROXY": "http://plain:3128",
        "NO_PROXY": "internal.example",
    }
    settings = make_settings(environ=environ)
    assert dict(settings.proxies) == {
        "https": "http://lower:3128",
        "http": "http://plain:3128",
        "no": "internal.example",
    }
    assert make_settings(environ=environ, trust_env=False).proxies == {}
    assert "lower" not in repr(settings)  # a proxy URL may hold a password


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://accounts.cloudone.trendmicro.com/api/users", "http://proxy:3128"),
        ("https://dsm.internal.example:4119/api/roles", None),  # NO_PROXY suffix
        ("https://internal.example/api", None),
        ("https://127.0.0.1:4119/api", None),  # loopback: never proxied
        ("http://localhost:8080/api", None),
        ("https://[::1]:4119/api", None),
    ],
)
def test_proxy_for_honours_no_proxy_and_loopback(url: str, expected: str | None) -> None:
    proxies = {"https": "http://proxy:3128", "http": "http://proxy:3128", "no": "internal.example"}
    assert proxy_for(url, proxies) == expected


def test_no_proxy_star_disables_every_proxy() -> None:
    assert proxy_for("https://example.com/api", {"https": "http://proxy:1", "no": "*"}) is None
    assert proxy_for("https://example.com/api", {"http": "http://proxy:1"}) is None


def test_the_user_agent_is_c1iam_after_the_callers_token() -> None:
    assert make_settings().user_agent == f"c1iam/{c1iam.__version__}"
    assert (
        make_settings(user_agent="audit/1.0").user_agent == f"audit/1.0 c1iam/{c1iam.__version__}"
    )


def test_verify_false_is_kept_and_a_path_becomes_a_context(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    assert make_settings(verify=False).verify is False
    context = make_settings(verify=str(ca_file)).verify
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_legacy_auth_must_be_a_bool() -> None:
    # bool("false") is True: a string would switch the key to the legacy header.
    with pytest.raises(c1iam.InvalidArgument, match="legacy_auth"):
        c1iam.Session("key-id:secret", legacy_auth="false")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com:99999/api",  # a port beyond 65535
        "http://localhost:99999/api",
        "https://a..b/api",  # an empty label: no host name
        "",  # not "the default": the key would go to the production service
    ],
)
def test_a_base_url_that_cannot_be_used_is_refused_before_anything_is_sent(url: str) -> None:
    for name in ("accounts_url", "workload_url"):
        options: dict[str, Any] = {name: url}
        with pytest.raises(c1iam.InvalidArgument, match=name):
            c1iam.Session("key-id:secret", **options)


@pytest.mark.parametrize("url", ["https://[::1]:8443/api", "https://bücher.example/api"])
def test_ip_literals_and_international_host_names_are_usable(url: str) -> None:
    assert check_base_url(url, name="accounts_url") == url
