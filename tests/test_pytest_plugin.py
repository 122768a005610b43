"""`c1iam.testing.pytest_plugin` in a throwaway project, as a user would use it."""

from __future__ import annotations

import importlib.util

import pytest

USER_TESTS = """
import pytest

import c1iam
from c1iam.testing import FakeCloudOne


async def test_unmarked_with_the_fake(fake_cloud_one: FakeCloudOne) -> None:
    assert len(fake_cloud_one.users) == 60


async def test_unmarked_with_the_session(session: c1iam.Session) -> None:
    assert len(await session.users.list().collect()) == 60


@pytest.mark.anyio
async def test_marked(session: c1iam.Session, anyio_backend: str) -> None:
    assert anyio_backend == "asyncio"
    assert len(await session.administrator_roles.list()) == 12
"""


def test_the_plugin_runs_async_tests_on_asyncio_only(pytester: pytest.Pytester) -> None:
    # With trio installed (the test extra has it), anyio's own plugin would try it too.
    assert importlib.util.find_spec("trio") is not None
    pytester.makeconftest('pytest_plugins = ["c1iam.testing.pytest_plugin"]\n')
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_inprocess("-v", "-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=3)
    assert "trio" not in result.stdout.str()
