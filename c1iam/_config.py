"""Session settings: regions, base URLs, environment variables (pure).

Everything a `Session` is configured with is checked here, when the session is built,
so that bad configuration is an `InvalidArgument` before anything is sent.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

import attrs

from ._arguments import check_positive_int
from ._auth import Secret
from ._errors import InvalidArgument
from ._retry import RetryPolicy

__all__ = [
    "DEFAULT_ACCOUNTS_URL",
    "DEFAULT_MAX_ANSWER_SIZE",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_TIMEOUT",
    "ENV_API_KEY",
    "ENV_REGION",
    "REGIONS",
    "Settings",
    "check_base_url",
]

ENV_API_KEY: Final = "C1IAM_API_KEY"
ENV_REGION: Final = "C1IAM_REGION"

# The Cloud One regions (reference page, section 1); `ie-1` is accepted by some tools.
REGIONS: Final = (
    "us-1",
    "in-1",
    "gb-1",
    "jp-1",
    "de-1",
    "au-1",
    "ca-1",
    "sg-1",
    "trend-us-1",
    "ie-1",
)
DEFAULT_REGION: Final = "us-1"

# IAM is global, not regional.
DEFAULT_ACCOUNTS_URL: Final = "https://accounts.cloudone.trendmicro.com/api"
WORKLOAD_URL_TEMPLATE: Final = "https://workload.{region}.cloudone.trendmicro.com/api"

DEFAULT_MAX_CONCURRENCY: Final = 16
DEFAULT_TIMEOUT: Final = 30.0
# The largest answer read, after decompression: a page of 1,000 administrator roles is a few
# megabytes; anything far beyond is a broken or hostile server, not data.
DEFAULT_MAX_ANSWER_SIZE: Final = 32 * 1024 * 1024

_LOOPBACK_NAMES: Final = frozenset({"localhost"})


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, *, name: str) -> str:
    """Return `url` without a trailing slash, or refuse it.

    `https://` is always accepted; plain `http://` only for loopback hosts
    (127.0.0.0/8, ::1, localhost), so that a key never crosses a network in clear.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidArgument(f"{name} must be an absolute http(s) URL, got {url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise InvalidArgument(
            f"{name} uses plain HTTP to {parts.hostname!r}: only https:// is allowed, "
            "except for loopback hosts (127.0.0.0/8, ::1, localhost)"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidArgument(f"{name} must not carry a query, fragment or credentials")
    return url.rstrip("/")


def _positive_float_or_none(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not (math.isfinite(value) and value > 0)
    ):
        raise InvalidArgument(f"{name} must be a positive number or None, got {value!r}")
    return float(value)


def _check_key(key: object) -> None:
    """Refuse a key that cannot travel in an HTTP header, without ever quoting it."""
    if not isinstance(key, str):
        raise InvalidArgument(f"the API key must be a str, got {type(key).__name__}")
    for position, character in enumerate(key):
        # Visible ASCII only: a control character would split or break the header (aiohttp
        # refuses it on every request), a space or a non-ASCII letter is a copy-and-paste
        # slip. The position says where to look; the key itself is never in the message.
        if not "!" <= character <= "~":
            raise InvalidArgument(
                "the API key may only hold visible ASCII characters (no spaces, control or "
                f"non-ASCII characters); character {position + 1} of {len(key)} is not one"
            )


@attrs.frozen(kw_only=True)
class Settings:
    """What a session was configured with, checked and resolved.

    Built by `Settings.resolve` from the `Session` arguments and the environment.
    """

    api_key: Secret
    region: str
    accounts_url: str
    workload_url: str
    legacy_auth: bool
    max_concurrency: int
    rate: float | None
    retry: RetryPolicy
    timeout: float
    max_answer_size: int = DEFAULT_MAX_ANSWER_SIZE

    @classmethod
    def resolve(
        cls,
        api_key: str | None,
        *,
        region: str | None,
        accounts_url: str | None,
        workload_url: str | None,
        legacy_auth: bool,
        max_concurrency: int,
        rate: float | None,
        retry: RetryPolicy | None,
        timeout: float,
        max_answer_size: int = DEFAULT_MAX_ANSWER_SIZE,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Check every argument, fill defaults from `environ` (`os.environ` by default)."""
        environ = os.environ if environ is None else environ
        key = api_key if api_key is not None else environ.get(ENV_API_KEY)
        if not key:
            raise InvalidArgument(
                f"no API key: pass api_key= or set the environment variable {ENV_API_KEY}"
            )
        _check_key(key)
        region = region if region is not None else environ.get(ENV_REGION, DEFAULT_REGION)
        if region not in REGIONS:
            raise InvalidArgument(f"unknown region {region!r}; known regions: {', '.join(REGIONS)}")
        accounts = check_base_url(accounts_url or DEFAULT_ACCOUNTS_URL, name="accounts_url")
        workload = check_base_url(
            workload_url or WORKLOAD_URL_TEMPLATE.format(region=region), name="workload_url"
        )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidArgument(f"retry must be a c1iam.RetryPolicy, got {retry!r}")
        checked_timeout = _positive_float_or_none("timeout", timeout)
        if checked_timeout is None:
            raise InvalidArgument("timeout must be a positive number of seconds")
        return cls(
            api_key=Secret(key),
            region=region,
            accounts_url=accounts,
            workload_url=workload,
            legacy_auth=bool(legacy_auth),
            max_concurrency=check_positive_int("max_concurrency", max_concurrency),
            rate=_positive_float_or_none("rate", rate),
            retry=retry if retry is not None else RetryPolicy(),
            timeout=checked_timeout,
            max_answer_size=check_positive_int("max_answer_size", max_answer_size),
        )
