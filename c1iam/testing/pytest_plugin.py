"""Fixtures for testing code that uses c1iam: `pytest_plugins = ["c1iam.testing.pytest_plugin"]`.

- `fake_cloud_one`: a started `FakeCloudOne` with 60 users and 12 administrator roles.
- `session`: a `c1iam.Session` connected to it.

The fixtures are async and run with anyio's pytest plugin (installed with anyio, which
c1iam needs), on asyncio only: aiohttp runs on asyncio, so this plugin's `anyio_backend` is
"asyncio" even when trio is installed. An `async def` test that asks for one of these
fixtures is run by anyio without a mark; mark other async tests `@pytest.mark.anyio`.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any, Final

import pytest

import c1iam

from ._server import FakeCloudOne

__all__ = ["anyio_backend", "fake_cloud_one", "session"]

_OUR_FIXTURES: Final = frozenset({"fake_cloud_one", "session"})


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """asyncio: the only event loop aiohttp runs on (trio, when installed, is not tried)."""
    return "asyncio"


@pytest.fixture
async def fake_cloud_one() -> AsyncIterator[FakeCloudOne]:
    """A started fake with 60 users and 12 administrator roles (seed 1)."""
    async with FakeCloudOne(users=60, roles=12, seed=1) as fake:
        yield fake


@pytest.fixture
async def session(fake_cloud_one: FakeCloudOne) -> AsyncIterator[c1iam.Session]:
    """A session connected to `fake_cloud_one`."""
    async with c1iam.Session(
        fake_cloud_one.api_key,
        accounts_url=fake_cloud_one.accounts_url,
        workload_url=fake_cloud_one.workload_url,
    ) as client:
        yield client


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: Any) -> None:
    """Mark `async def` tests that use these fixtures for anyio, so they run without one."""
    if not (inspect.iscoroutinefunction(obj) and name.startswith("test")):
        return
    try:
        parameters = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return
    if _OUR_FIXTURES.isdisjoint(parameters):
        return
    if not any(mark.name == "anyio" for mark in getattr(obj, "pytestmark", ())):
        pytest.mark.anyio(obj)
    pytest.mark.usefixtures("anyio_backend")(obj)
