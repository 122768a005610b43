"""A pytest fixture for the fake: `pytest_plugins = ["c1iam.testing.pytest_plugin"]`.

The fixture is async: run your tests with anyio's pytest plugin (or pytest-asyncio).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ._server import FakeCloudOne

__all__ = ["fake_cloud_one"]


@pytest.fixture
async def fake_cloud_one() -> AsyncIterator[FakeCloudOne]:
    """A started fake with 60 users and 12 administrator roles (seed 1)."""
    async with FakeCloudOne(users=60, roles=12, seed=1) as fake:
        yield fake
