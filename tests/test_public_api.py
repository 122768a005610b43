"""The package's public names against ../shared/API.md, the contract users code against."""

from __future__ import annotations

import builtins
import re
from pathlib import Path

import pytest

import c1iam

API_MD = Path(__file__).resolve().parents[2] / "shared" / "API.md"

# Public names that API.md does not list: each one is a deliberate addition.
EXTRAS = {
    # The models of API keys, Cloud One roles, accounts and invitations: the contract
    # lists their calls, not yet their classes.
    "Account",
    "ApiKey",
    "CloudOneRole",
    "Invitation",
    "Secret",  # ApiKey.secret, redacted everywhere
    "BulkResult",  # session.bulk's per-item result
    "InvalidArgument",  # the ValueError raised before anything is sent
    "RetryPolicy",  # Session(retry=...)
    "Rights",  # the typed rights tree of AdministratorRole
    "StreamConsumed",  # a stream iterated twice
    "ThrottleStats",  # session.stats()
    # Session(transport=...): the protocol API.md names, and what it sends and returns.
    "Transport",
    "Request",
    "Response",
}


def documented_names() -> set[str]:
    if not API_MD.exists():
        pytest.skip("../shared/API.md is not beside this checkout")
    text = API_MD.read_text()
    names = set(re.findall(r"c1iam\.([A-Z][A-Za-z0-9]+)", text))
    errors = text.split("## Errors", 1)[1].split("\n## ", 1)[0]
    names |= set(re.findall(r"`([A-Z][A-Za-z0-9]+)`", errors))
    return names - set(dir(builtins))  # `ValueError`, `None`: Python's, not ours


def test_every_documented_name_is_exported() -> None:
    names = documented_names()
    assert {"Session", "Stream", "Page", "User", "AdministratorRole", "Criterion"} <= names
    assert {"BadRequest", "ServiceUnavailable", "TransportError", "ProtocolError"} <= names
    assert names <= set(c1iam.__all__)


def test_all_is_the_documented_names_and_the_listed_extras() -> None:
    assert set(c1iam.__all__) == documented_names() | EXTRAS


def test_every_public_name_exists_and_says_what_it_is() -> None:
    for name in c1iam.__all__:
        value = getattr(c1iam, name)
        assert (value.__doc__ or "").strip(), f"c1iam.{name} has no docstring"


def test_every_error_derives_from_the_root() -> None:
    for name in c1iam.__all__:
        value = getattr(c1iam, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, c1iam.C1IAMError), name
    assert issubclass(c1iam.InvalidArgument, ValueError)
    assert issubclass(c1iam.ServiceUnavailable, c1iam.ServerError)


def test_the_session_signature_matches_the_contract() -> None:
    import inspect

    parameters = inspect.signature(c1iam.Session).parameters
    assert next(iter(parameters)) == "api_key"
    assert parameters["api_key"].default is None
    for keyword in (
        "region", "accounts_url", "workload_url", "legacy_auth", "max_concurrency", "rate",
        "retry", "timeout", "verify", "trust_env", "user_agent", "transport", "trace_configs",
        "read_ahead", "shared_throttle",
    ):  # fmt: skip
        assert parameters[keyword].kind is inspect.Parameter.KEYWORD_ONLY, keyword
    defaults = {"verify": True, "trust_env": True, "user_agent": None, "transport": None}
    defaults["shared_throttle"] = None
    for keyword, default in {**defaults, "trace_configs": None}.items():
        assert parameters[keyword].default is default, keyword
