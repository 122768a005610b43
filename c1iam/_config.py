"""Session settings: regions, base URLs, TLS, proxies, environment variables (pure).

Everything a `Session` is configured with is checked here, when the session is built,
so that bad configuration is an `InvalidArgument` before anything is sent.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import logging
import os
import ssl
import urllib.request
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

import attrs

from ._arguments import check_flag, check_positive_int, check_positive_number, optional
from ._auth import Secret
from ._errors import InvalidArgument
from ._retry import RetryPolicy
from ._version import __version__

__all__ = [
    "DEFAULT_ACCOUNTS_URL",
    "DEFAULT_MAX_ANSWER_SIZE",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_TIMEOUT",
    "ENV_API_KEY",
    "ENV_REGION",
    "ENV_SHARED_THROTTLE",
    "REGIONS",
    "Settings",
    "Verify",
    "check_base_url",
    "is_loopback",
    "proxy_for",
]

logger = logging.getLogger("c1iam")

Verify = bool | str | os.PathLike[str] | ssl.SSLContext
"""What `Session(verify=...)` takes: True (the system's CAs), a CA bundle file or directory,
an `ssl.SSLContext`, or False (no verification: the last resort, logged as a warning)."""

ENV_API_KEY: Final = "C1IAM_API_KEY"
ENV_REGION: Final = "C1IAM_REGION"
ENV_SHARED_THROTTLE: Final = "C1IAM_SHARED_THROTTLE"
DEFAULT_SHARED_THROTTLE_PREFIX: Final = "c1iam"

# The Cloud One regions; `ie-1` is accepted by some tools.
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


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost": hosts that never leave this machine."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    address = _ip_address(host)
    return address is not None and address.is_loopback


def _ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`host` as an IP address, or `None` for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_base_url(url: str, *, name: str) -> str:
    """Return `url` without a trailing slash, or refuse it.

    `https://` is always accepted; plain `http://` only for loopback hosts
    (127.0.0.0/8, ::1, localhost), so that a key never crosses a network in clear.
    """
    if not isinstance(url, str):
        raise InvalidArgument(f"{name} must be an absolute http(s) URL, got {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidArgument(f"{name} must be an absolute http(s) URL, got {url!r}")
    try:
        parts.port  # noqa: B018 (read for its check: a port beyond 0-65535 raises)
        if _ip_address(parts.hostname) is None:
            parts.hostname.encode("idna")  # an empty or over-long label raises
    except (ValueError, UnicodeError):
        raise InvalidArgument(f"{name} has no usable host and port: {url!r}") from None
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InvalidArgument(
            f"{name} uses plain HTTP to {parts.hostname!r}: only https:// is allowed, "
            "except for loopback hosts (127.0.0.0/8, ::1, localhost)"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidArgument(f"{name} must not carry a query, fragment or credentials")
    return url.rstrip("/")


def check_shared_throttle(url: str | None, prefix: str) -> str | None:
    """A `redis://` or `rediss://` URL (or None), and a prefix for the store's keys.

    The messages never repeat the URL: it may hold a password.
    """
    if not isinstance(prefix, str) or not prefix or any(c.isspace() for c in prefix):
        raise InvalidArgument("shared_throttle_prefix must be a non-empty string without spaces")
    if url is None or url == "":
        return None
    if not isinstance(url, str):
        raise InvalidArgument(f"shared_throttle must be a redis:// URL, got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise InvalidArgument(
            "shared_throttle must be a redis://, rediss:// or unix:// URL "
            "(e.g. redis://127.0.0.1:6379/0)"
        )
    if importlib.util.find_spec("redis") is None:
        raise InvalidArgument("shared_throttle needs the redis client: pip install 'c1iam[redis]'")
    return url


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


def resolve_verify(verify: Verify) -> ssl.SSLContext | bool:
    """What the transport verifies TLS with: True (the default context), a context, or False.

    A CA bundle is loaded here, so that a wrong path is an `InvalidArgument` at once, not a
    TLS failure on the first request. False is allowed, and logged once as a warning.
    """
    if verify is True:
        return True
    if verify is False:
        logger.warning(
            "TLS verification is off (verify=False): anyone on the network path can read "
            "and change the requests, and the API key; pass verify='ca.pem' instead"
        )
        return False
    if isinstance(verify, ssl.SSLContext):
        if verify.verify_mode == ssl.CERT_NONE or not verify.check_hostname:
            logger.warning(
                "the SSLContext given as verify= does not check certificates or host names"
            )
        return verify
    if isinstance(verify, str | os.PathLike):
        path = os.fspath(verify)
        try:
            if os.path.isdir(path):
                return ssl.create_default_context(capath=path)
            return ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as error:
            raise InvalidArgument(
                f"verify: cannot load CA certificates from {path!r}: {error}"
            ) from None
    raise InvalidArgument(
        "verify must be True, False, a CA bundle path or an ssl.SSLContext, "
        f"got {type(verify).__name__}"
    )


def user_agent_header(token: str | None) -> str:
    """`c1iam/<version>`, after the caller's own product token when there is one."""
    ours = f"c1iam/{__version__}"
    if token is None:
        return ours
    if not isinstance(token, str) or not token.strip() or not token.isprintable():
        raise InvalidArgument(
            f"user_agent must be a product token such as 'my-audit/1.2', got {token!r}"
        )
    return f"{token.strip()} {ours}"


def environment_proxies(environ: Mapping[str, str]) -> dict[str, str]:
    """`{"https": ..., "http": ..., "no": ...}` from `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`
    (either case; lower case first, as curl and the standard library do).

    Only the environment: never `.netrc`, whose credentials aiohttp's own `trust_env`
    would send (the key header is the only credential c1iam sends).
    """
    proxies: dict[str, str] = {}
    for scheme in ("https", "http", "no"):
        for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY"):
            value = environ.get(name, "").strip()
            if value:
                proxies[scheme] = value
                break
    for scheme in ("https", "http"):
        if scheme in proxies:
            check_proxy_url(proxies[scheme], name=f"{scheme.upper()}_PROXY")
    return proxies


def check_proxy_url(url: str, *, name: str) -> None:
    """Refuse a proxy URL the transport cannot use (the message never shows a password)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgument(
            f"{name} must be an http:// or https:// proxy URL, got one with scheme {parts.scheme!r}"
        )


def proxy_for(url: str, proxies: Mapping[str, str]) -> str | None:
    """The proxy to reach `url` through, or None to connect directly.

    Loopback hosts are always reached directly: plain HTTP is allowed to them because it
    never leaves the machine, and a proxy would carry it, and the key, across a network.
    `NO_PROXY` is read as the standard library reads it (host suffixes, `*` for all).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    proxy = proxies.get(parts.scheme)
    if proxy is None or is_loopback(host):
        return None
    no_proxy = proxies.get("no")
    if no_proxy and urllib.request.proxy_bypass_environment(  # type: ignore[attr-defined]
        f"{host}:{parts.port}" if parts.port else host, {"no": no_proxy}
    ):
        return None
    return proxy


@attrs.frozen(kw_only=True)
class Settings:
    """What a session was configured with, checked and resolved.

    `verify` is what the transport checks certificates with; `proxies` the environment's
    (`https`, `http`, `no`), empty with `trust_env=False`; `user_agent` the header's value.

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
    verify: ssl.SSLContext | bool = True
    proxies: Mapping[str, str] = attrs.field(factory=dict, repr=False)  # may hold passwords
    user_agent: str = f"c1iam/{__version__}"
    shared_throttle: str | None = attrs.field(default=None, repr=False)  # may hold a password
    shared_throttle_prefix: str = DEFAULT_SHARED_THROTTLE_PREFIX

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
        verify: Verify = True,
        trust_env: bool = True,
        user_agent: str | None = None,
        shared_throttle: str | None = None,
        shared_throttle_prefix: str = DEFAULT_SHARED_THROTTLE_PREFIX,
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
        # (An empty URL is a mistake, not "the default": the key would go to production.)
        accounts = check_base_url(
            DEFAULT_ACCOUNTS_URL if accounts_url is None else accounts_url, name="accounts_url"
        )
        workload = check_base_url(
            WORKLOAD_URL_TEMPLATE.format(region=region) if workload_url is None else workload_url,
            name="workload_url",
        )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidArgument(f"retry must be a c1iam.RetryPolicy, got {retry!r}")
        shared = check_shared_throttle(
            shared_throttle if shared_throttle is not None else environ.get(ENV_SHARED_THROTTLE),
            shared_throttle_prefix,
        )
        return cls(
            api_key=Secret(key),
            region=region,
            accounts_url=accounts,
            workload_url=workload,
            legacy_auth=check_flag("legacy_auth", legacy_auth),
            max_concurrency=check_positive_int("max_concurrency", max_concurrency),
            rate=optional(check_positive_number, "rate", rate),
            retry=retry if retry is not None else RetryPolicy(),
            timeout=check_positive_number("timeout", timeout),
            max_answer_size=check_positive_int("max_answer_size", max_answer_size),
            verify=resolve_verify(verify),
            proxies=environment_proxies(environ) if check_flag("trust_env", trust_env) else {},
            user_agent=user_agent_header(user_agent),
            shared_throttle=shared,
            shared_throttle_prefix=shared_throttle_prefix,
        )
