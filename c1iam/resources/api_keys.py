"""`session.api_keys`: Cloud One IAM API keys (the IAM API reference, tag API-Keys)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import attrs

from .._arguments import (
    check_flag,
    check_identifier,
    check_ip_addresses,
    check_ip_networks,
    check_role_id,
    check_text,
    check_word,
    optional,
)
from .._auth import Secret
from .._converter import structure, structurer
from .._errors import ProtocolError
from ..models.api_keys import ApiKey, ApiKeyChanges
from ._iam import ListedByRole

__all__ = ["ApiKeys"]


class ApiKeys(ListedByRole[ApiKey]):
    """List, create, describe, modify and delete the API keys of a Cloud One account.

    `allowed_ips` / `allowed_cidrs` restrict where a key may be used from; an empty list
    lifts the restriction, `None` (the default) leaves it as it is.
    """

    collection = "apikeys"
    items_key = "apikeys"
    model = ApiKey
    id_name = "api_key_id"
    check_id = staticmethod(check_identifier)

    async def create(
        self,
        *,
        role_id: str,
        alias: str | None = None,
        description: str | None = None,
        locale: str | None = None,
        timezone: str | None = None,
        enabled: bool | None = None,
        allowed_ips: Sequence[str] | None = None,
        allowed_cidrs: Sequence[str] | None = None,
    ) -> ApiKey:
        """A new key with the role `role_id`. Its `secret` is set on this result only: the
        service shows it once. It is never logged, and redacted in every repr."""
        body = _checked(
            role_id=check_role_id("role_id", role_id),
            alias=alias,
            description=description,
            locale=locale,
            timezone=timezone,
            enabled=enabled,
            allowed_ips=allowed_ips,
            allowed_cidrs=allowed_cidrs,
        )
        created, failure = _read_created(await self._create_answer(body))
        if failure is not None:
            # Raised here, where no frame holds the answer: a traceback's locals (pytest
            # --showlocals, error reporters) and `__context__` never lead to the secret.
            raise failure
        assert created is not None
        return created

    def _reader(self) -> Callable[[Any], ApiKey]:
        """A key read from anything but its create has no secret, even if an answer held
        one: the service shows it once, and a value read elsewhere need not be usable."""
        read = structurer(ApiKey)

        def without_secret(answer: Any) -> ApiKey:
            key = read(answer)
            return key if key.secret is None else attrs.evolve(key, secret=None)

        return without_secret

    async def describe(self, api_key_id: str) -> ApiKey:
        """One API key (without its secret); `NotFound` if there is none with this ID."""
        return await self._describe(api_key_id)

    async def modify(
        self,
        api_key_id: str,
        *,
        alias: str | None = None,
        description: str | None = None,
        role_id: str | None = None,
        locale: str | None = None,
        timezone: str | None = None,
        enabled: bool | None = None,
        allowed_ips: Sequence[str] | None = None,
        allowed_cidrs: Sequence[str] | None = None,
    ) -> ApiKey:
        """Change the given fields of a key (the others are not sent); the key as it is now."""
        changes = _checked(
            alias=alias,
            description=description,
            role_id=role_id,
            locale=locale,
            timezone=timezone,
            enabled=enabled,
            allowed_ips=allowed_ips,
            allowed_cidrs=allowed_cidrs,
        )
        return await self._modify(api_key_id, changes)

    async def delete(self, api_key_id: str) -> None:
        """Delete a key: whoever holds it can no longer call the APIs."""
        await self._delete(api_key_id)


# What each field of a create or a modify must be.
_CHECKS: Final[Mapping[str, Callable[[str, Any], Any]]] = {
    "role_id": check_role_id,
    "alias": check_text,
    "description": check_text,
    "locale": check_word,
    "timezone": check_word,
    "enabled": check_flag,
    "allowed_ips": check_ip_addresses,
    "allowed_cidrs": check_ip_networks,
}


def _checked(**fields: Any) -> ApiKeyChanges:
    """The body of a create or a modify: every field given checked, the others not sent."""
    return ApiKeyChanges(
        **{name: optional(_CHECKS[name], name, value) for name, value in fields.items()}
    )


def _read_created(answer: object) -> tuple[ApiKey | None, ProtocolError | None]:
    """The created key, or the error to raise, which is made here but not raised here.

    The raw answer (it holds the one-time secret) lives only in this frame, and the
    exception of a failed decoding, whose traceback reaches into the converter's frames,
    ends with the `except` block: nothing raised afterwards keeps either.
    """
    try:
        return _with_usable_secret(structure(answer, ApiKey)), None
    except ProtocolError as error:
        # The key exists, and its secret is shown only this once: say which key it is
        # (an ID is public) so that it can be deleted, without ever echoing the secret.
        key_id = answer.get("id") if isinstance(answer, dict) else None
        return None, ProtocolError(
            f"API key {key_id!r} was created but the answer cannot be read ({error}); "
            "its secret is lost: delete the key and create another"
        )


def _with_usable_secret(key: ApiKey) -> ApiKey:
    """`key` with its secret as the value that authenticates: `<id>:<secret>`.

    The API reference's example answers the bare secret, while a working key is
    `<id>:<secret>`. It does not say that every deployment answers alike, so an answer
    that already starts with `<id>:` is kept as it is.
    """
    if key.secret is None:
        return key
    value = key.secret.reveal()
    if value.startswith(f"{key.id}:"):
        return key
    return attrs.evolve(key, secret=Secret(f"{key.id}:{value}"))
