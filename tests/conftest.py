"""Shared fixtures: the anyio plugin on asyncio, a fake clock, the loopback fake server."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import c1iam
from c1iam._config import Settings
from c1iam.testing import FakeCloudOne, RecordedRequest

pytest_plugins = ["pytester"]  # the pytest plugin is tried in a throwaway project


@pytest.fixture
def anyio_backend() -> str:
    """aiohttp is asyncio-only. (Test modules opt in with `pytestmark = pytest.mark.anyio`.)"""
    return "asyncio"


class FakeClock:
    """A clock that only moves when something sleeps on it: no real waiting.

    `sleep` yields to the event loop once, then advances time by the amount asked. It
    suits one sleeper at a time (the throttle's pacer, one retrying request): concurrent
    sleeps add up instead of overlapping.
    """

    def __init__(self, start: float = 1_000.0, wall: float = 1_700_000_000.0) -> None:
        self.now = start
        self.wall_offset = wall - start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now + self.wall_offset

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        # Yield first: tasks made ready before this sleep run at the time they were
        # made ready. A sleep cancelled at that point lets no time pass.
        await asyncio.sleep(0)
        self.now += max(0.0, seconds)


def make_settings(
    api_key: str | None = "key-id:very-secret-part",
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """`Settings.resolve` with the defaults of a `Session`, an empty environment and a key."""
    options: dict[str, Any] = {
        "region": None,
        "accounts_url": None,
        "workload_url": None,
        "legacy_auth": False,
        "max_concurrency": 4,
        "rate": None,
        "retry": None,
        "timeout": 10.0,
    }
    options.update(overrides)
    return Settings.resolve(api_key, environ=environ or {}, **options)


# Every status the APIs document, and a few more, with the error class each one raises.
ERROR_CLASSES = [
    (400, c1iam.BadRequest),
    (401, c1iam.Unauthorized),
    (403, c1iam.Forbidden),
    (404, c1iam.NotFound),
    (409, c1iam.APIError),  # undocumented: the root of the API errors
    (429, c1iam.RateLimited),
    (500, c1iam.ServerError),
    (502, c1iam.ServerError),
    (503, c1iam.ServiceUnavailable),
    (504, c1iam.ServerError),
]


def requests_to(
    fake: FakeCloudOne, method: str, path_prefix: str, api: str = "accounts"
) -> list[RecordedRequest]:
    """The requests `fake` received with this method, under this path."""
    return [
        r
        for r in fake.requests
        if r.api == api and r.method == method and r.path.startswith(path_prefix)
    ]


@pytest.fixture
def clock() -> FakeClock:
    """A fresh fake clock."""
    return FakeClock()


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloudOne]:
    """The fake server on loopback, with a small deterministic account."""
    async with FakeCloudOne(users=60, roles=12, api_keys=40, invitations=12, seed=1) as server:
        yield server


@pytest.fixture
async def session(fake: FakeCloudOne) -> AsyncIterator[c1iam.Session]:
    """A session connected to `fake`."""
    async with c1iam.Session(
        fake.api_key, accounts_url=fake.accounts_url, workload_url=fake.workload_url
    ) as client:
        yield client


REDIS_HOW_TO = (
    "start one: `sudo apt-get install redis-server` (Debian, Ubuntu), or "
    "`docker run --rm -p 6379:6379 redis:7`; or point C1IAM_TEST_REDIS_URL at one"
)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis for the shared-throttle tests (`C1IAM_TEST_REDIS_URL`, default database 15
    on loopback): skipped when none answers, a failure under CI (`CI=true`)."""
    import redis

    url = os.environ.get("C1IAM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0) as client:
            client.ping()
    except (redis.exceptions.RedisError, OSError) as error:
        message = f"no Redis answers at {url} ({type(error).__name__}): {REDIS_HOW_TO}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """Key prefix of its own for one test (tests may run in parallel); removed after."""
    import redis

    prefix = f"c1iam-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
