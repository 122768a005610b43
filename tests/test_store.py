"""The store seam: scoping of shared state, and `shared_throttle` configuration."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from typing import Any

import pytest

import c1iam
from c1iam._config import ENV_SHARED_THROTTLE
from c1iam._control import Answer
from c1iam._store import LocalStore, Snapshot, scope_for

from .conftest import make_settings

URLS = ("https://accounts.cloudone.trendmicro.com/api", "https://workload.us-1.example/api")


def test_a_cloud_one_key_is_scoped_by_its_id_never_its_secret() -> None:
    scope = scope_for("tmc12345abcdef:the-secret-part", legacy_auth=False, urls=URLS)
    assert scope.startswith("tmc12345abcdef@")
    assert "the-secret-part" not in scope
    # Both hosts, in a stable order, so every session of the key agrees.
    assert scope.endswith("@accounts.cloudone.trendmicro.com+workload.us-1.example")
    assert scope == scope_for(
        "tmc12345abcdef:another-secret", legacy_auth=False, urls=tuple(reversed(URLS))
    )


def test_a_legacy_key_is_scoped_by_a_hash() -> None:
    key = "2:abcdefghijklmnop-legacy-secret"
    scope = scope_for(key, legacy_auth=True, urls=URLS)
    assert "abcdefghijklmnop" not in scope
    assert key.split(":", 1)[0] + "@" not in scope  # not the "ID" of a legacy key either
    assert scope.startswith("h-")
    assert scope == scope_for(key, legacy_auth=True, urls=URLS)
    assert scope != scope_for(key + "x", legacy_auth=True, urls=URLS)


def test_other_hosts_are_another_limit() -> None:
    key = "key-id:secret"
    assert scope_for(key, legacy_auth=False, urls=URLS) != scope_for(
        key, legacy_auth=False, urls=("https://dsm.example:4119/api",)
    )


@pytest.mark.anyio
async def test_the_local_store_shares_nothing() -> None:
    store = LocalStore()
    await store.start(
        learn=lambda _: None,
        snapshot=lambda: Snapshot(rate=None, mode=c1iam._control.Mode.OPEN, hold_until=None),
        adopt=lambda _: None,
    )
    assert await store.reserve(10.0) == 0.0
    store.publish(Answer.REFUSED, sent_at=0.0, retry_after=None, sent_rate=None)
    assert store.state().shared is False
    await store.aclose()


def test_shared_throttle_comes_from_the_environment() -> None:
    settings = make_settings(environ={ENV_SHARED_THROTTLE: "redis://127.0.0.1:6379/3"})
    assert settings.shared_throttle == "redis://127.0.0.1:6379/3"
    assert make_settings().shared_throttle is None


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "redis://", "memcached://host"]
)
def test_a_shared_throttle_that_is_not_a_redis_url_is_refused(url: str) -> None:
    with pytest.raises(c1iam.InvalidArgument, match="redis://"):
        make_settings(shared_throttle=url)


def test_the_url_password_never_shows() -> None:
    url = "redis://:hunter2-password@10.0.0.5:6379/0"
    settings = make_settings(shared_throttle=url)
    assert "hunter2" not in repr(settings)
    with pytest.raises(c1iam.InvalidArgument) as error:
        make_settings(shared_throttle="http://:hunter2-password@10.0.0.5/")
    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize("prefix", ["", "with space", 3])
def test_a_bad_key_prefix_is_refused(prefix: object) -> None:
    with pytest.raises(c1iam.InvalidArgument, match="shared_throttle_prefix"):
        make_settings(shared_throttle="redis://127.0.0.1/0", shared_throttle_prefix=prefix)


def test_the_core_library_does_not_import_redis() -> None:
    code = "import sys, c1iam; c1iam.Session('id:secret'); assert 'redis' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603 - our interpreter


def test_without_the_redis_extra_the_error_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "redis" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(c1iam.InvalidArgument, match=r"pip install 'c1iam\[redis\]'"):
        c1iam.Session("id:secret", shared_throttle="redis://127.0.0.1:6379/0")
