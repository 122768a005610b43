"""`session.accounts`: the Cloud One account (the IAM API reference, tag Accounts)."""

from __future__ import annotations

from .._arguments import check_account_id, check_flag, check_text, check_word, optional
from ..models.accounts import Account, AccountChanges
from ._iam import IamCollection

__all__ = ["Accounts"]


class Accounts(IamCollection[Account]):
    """Describe and modify a Cloud One account, by its 12-character ID."""

    collection = "accounts"
    model = Account
    id_name = "account_id"
    check_id = staticmethod(check_account_id)

    async def describe(self, account_id: str) -> Account:
        """The account; `NotFound` if the key cannot see an account with this ID."""
        return await self._describe(account_id)

    async def modify(
        self,
        account_id: str,
        *,
        alias: str | None = None,
        locale: str | None = None,
        timezone: str | None = None,
        mfa_required: bool | None = None,
    ) -> Account:
        """Change the given fields (the others are not sent); the account as it is now."""
        changes = AccountChanges(
            alias=optional(check_text, "alias", alias),
            locale=optional(check_word, "locale", locale),
            timezone=optional(check_word, "timezone", timezone),
            mfa_required=optional(check_flag, "mfa_required", mfa_required),
        )
        return await self._modify(account_id, changes)
