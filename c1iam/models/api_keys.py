"""Cloud One IAM API keys."""

from __future__ import annotations

from datetime import datetime

import attrs

from .._auth import Secret

__all__ = ["ApiKey", "ApiKeyChanges"]


def _as_secret(value: Secret | str | None) -> Secret | None:
    # A plain string handed to the constructor (say, in a test) is wrapped too: no code path
    # leaves a secret readable in a repr.
    return Secret(value) if isinstance(value, str) else value


@attrs.frozen(kw_only=True)
class ApiKey:
    """An API key of a Cloud One account.

    `secret` is only set on the key returned by `api_keys.create`: the one time the service
    shows it. It is a `c1iam.Secret` (redacted in every repr and str; `secret.reveal()` gives
    the value), and it takes no part in equality.
    """

    id: str
    alias: str | None = None
    description: str | None = None
    role_id: str | None = None
    locale: str | None = None
    timezone: str | None = None
    allowed_ips: tuple[str, ...] | None = None
    allowed_cidrs: tuple[str, ...] | None = None
    enabled: bool | None = None  # a key has no `state`: `enabled` is its only switch
    created: datetime | None = None
    last_modified: datetime | None = None
    last_activity: datetime | None = None
    urn: str | None = None
    secret: Secret | None = attrs.field(default=None, eq=False, converter=_as_secret)


@attrs.frozen(kw_only=True)
class ApiKeyChanges:
    """The body of an API key creation or modification: fields that are `None` are not sent."""

    alias: str | None = None
    description: str | None = None
    role_id: str | None = None
    locale: str | None = None
    timezone: str | None = None
    enabled: bool | None = None
    allowed_ips: tuple[str, ...] | None = None
    allowed_cidrs: tuple[str, ...] | None = None
