"""Credentials and the headers that carry them (pure).

The API key lives in a `Secret`, whose repr and str are redacted, so that it cannot
leak through a `repr()` of a session, a log line or an exception message by accident.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["API_VERSION", "Secret", "auth_headers"]

# Both APIs require a version header on every call (both API references say so).
API_VERSION: Final = "v1"


class Secret:
    """A credential whose value is only handed out by `reveal()`: the session's API key, or
    the secret of a key that `api_keys.create` made. Redacted in repr and str; not picklable."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself: for the auth header, or for a new API key's one showing."""
        return self._value

    @property
    def key_id(self) -> str | None:
        """The public part of a Cloud One key (`<keyID>:<secret>`), safe to show."""
        key_id, separator, _ = self._value.partition(":")
        return key_id if separator else None

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __copy__(self) -> Secret:
        return self  # immutable: a copy may share it, and copying must not need pickling

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self

    def __reduce__(self) -> str | tuple[object, ...]:
        # Refuse pickling: a pickled session state would write the key to disk.
        raise TypeError("c1iam.Secret cannot be pickled")


def auth_headers(secret: Secret, *, legacy: bool) -> Mapping[str, str]:
    """The one authentication header to send, plus the version header.

    Exactly one auth header goes out (the official SDK sends every configured one):
    `Authorization: ApiKey <key>` for a Cloud One key, or `api-secret-key: <secret>`
    for a legacy Workload Security key or an on-premises Deep Security Manager.
    """
    if legacy:
        return {"api-secret-key": secret.reveal(), "Api-Version": API_VERSION}
    return {"Authorization": f"ApiKey {secret.reveal()}", "Api-Version": API_VERSION}
