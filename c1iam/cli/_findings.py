"""The audit's findings: risk rules with a severity, judged one object at a time.

Every rule has a stable ID (kept across versions: a CI job or a drift report keys on it),
a severity, a one-line reason and a remediation hint. A rule lists the objects it found,
each with what made it fire. Disabled users and keys never count as active risks: they
only appear in the low "still present" rules.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import attrs

import c1iam
from c1iam.models import Rights

from ._columns import cell

__all__ = [
    "RULES",
    "SEVERITIES",
    "Findings",
    "Privilege",
    "Rule",
    "privilege_of",
    "severity_at_least",
    "usable_from_anywhere",
]

Severity = Literal["high", "medium", "low"]
SEVERITIES: Final[tuple[Severity, ...]] = ("high", "medium", "low")


def severity_at_least(severity: str, threshold: str) -> bool:
    """Whether `severity` is `threshold` or worse."""
    return SEVERITIES.index(severity) <= SEVERITIES.index(threshold)


@attrs.frozen
class Rule:
    """One kind of finding."""

    id: str
    severity: Severity
    reason: str
    remediation: str


RULES: Final = {
    rule.id: rule
    for rule in (
        Rule(
            "account-mfa-not-required",
            "high",
            "The account does not require MFA of its users.",
            "Require MFA for the account: c1iam accounts modify --mfa-required.",
        ),
        Rule(
            "user-full-access-without-mfa",
            "high",
            "An enabled user with full access signs in without MFA.",
            "Turn on MFA for the user, require it for the account, or narrow the user's role.",
        ),
        Rule(
            "api-key-full-access-any-address",
            "high",
            "An enabled full-access API key can be used from any address.",
            "Limit the key to known addresses (allowed IPs or CIDRs) or give it a narrower role.",
        ),
        Rule(
            "admin-role-manages-access-via-api",
            "high",
            "An administrator role with web service (API) access can manage administrators, "
            "administrator roles or API keys.",
            "Remove web service access from the role, or its administrator, role and API key "
            "rights.",
        ),
        Rule(
            "user-write-role-without-mfa",
            "medium",
            "An enabled user with a role that can change things signs in without MFA.",
            "Turn on MFA for the user, or require it for the account.",
        ),
        Rule(
            "api-key-any-address",
            "medium",
            "An enabled API key with a role that can change things is usable from any address.",
            "Limit the key to known addresses (allowed IPs or CIDRs).",
        ),
        Rule(
            "user-inactive-write-role",
            "medium",
            "An enabled user holds a role that can change things but has not been active "
            "for the inactivity period.",
            "Disable the user or give it a read-only role: c1iam users modify --state disabled.",
        ),
        Rule(
            "api-key-inactive-write-role",
            "medium",
            "An enabled API key holds a role that can change things but has not been used "
            "for the inactivity period.",
            "Disable or delete the key: c1iam api-keys modify --disable.",
        ),
        Rule(
            "invitation-pending-full-access",
            "medium",
            "An invitation that is still open grants full access to whoever accepts it.",
            "Withdraw it unless expected: c1iam invitations delete.",
        ),
        Rule(
            "invitation-expired",
            "medium",
            "An expired invitation is still on the account.",
            "Withdraw it: c1iam invitations delete.",
        ),
        Rule(
            "user-disabled",
            "low",
            "A disabled user is still on the account.",
            "Remove users who have left: c1iam users delete.",
        ),
        Rule(
            "api-key-disabled",
            "low",
            "A disabled API key is still on the account.",
            "Delete keys that are no longer needed: c1iam api-keys delete.",
        ),
        Rule(
            "api-key-never-used",
            "low",
            "An enabled API key older than the inactivity period has never been used.",
            "Delete it if nothing needs it: c1iam api-keys delete.",
        ),
    )
}


# -- privilege ------------------------------------------------------------------------------

Privilege = Literal["read", "write", "full"]
PRIVILEGE_RANK: Final[dict[str, int]] = {"read": 1, "write": 2, "full": 3}
_FULL_ACCESS_URN: Final = "urn:cloudone:identity::role/full-access"


def privilege_of(role_id: str | None, service_role_urns: tuple[str, ...] | None) -> Privilege:
    """What a Cloud One role allows: `full` (the whole account), `write` (changes in some
    service) or `read`. A role whose service roles are unknown is judged by its ID, and
    an unknown role counts as `write`: an audit must not call unknown access harmless."""
    if role_id == "full-access" or (service_role_urns and _FULL_ACCESS_URN in service_role_urns):
        return "full"
    if service_role_urns is None:
        return "read" if role_id == "read-only" else "write"
    if service_role_urns and all(urn.endswith("/read-only") for urn in service_role_urns):
        return "read"
    return "write"


def usable_from_anywhere(allowed_ips: Any, allowed_cidrs: Any) -> bool:
    """No address restriction at all, or one that lets every address in (`0.0.0.0/0`)."""
    if not allowed_ips and not allowed_cidrs:
        return True
    for block in allowed_cidrs or ():
        with contextlib.suppress(ValueError):
            if ipaddress.ip_network(block, strict=False).prefixlen == 0:
                return True
    return False


def _administration_rights(rights: Rights | None) -> list[str]:
    """The rights to manage who can sign in or call the API that `rights` grants, read
    from the rights tree as the Workload Security API defines it."""
    platform = (rights or {}).get("platformRights") or {}
    administrators = platform.get("administratorRights") or {}
    roles = platform.get("administratorRoleRights") or {}
    api_keys = platform.get("apikeyRights") or {}
    granted = {
        "create administrators": administrators.get("canCreateNewAdministrators"),
        "edit administrators": administrators.get("canEditAdministratorProperties"),
        "delete administrators": administrators.get("canDeleteAdministrators"),
        "create administrator roles": roles.get("canCreateNewAdministratorRoles"),
        "edit administrator roles": roles.get("canEditAdministratorRoleProperties"),
        "delete administrator roles": roles.get("canDeleteAdministratorRoles"),
        "create API keys": api_keys.get("canCreateNewApiKeys"),
        "edit API keys": api_keys.get("canEditApiKeyProperties"),
        "delete API keys": api_keys.get("canDeleteApiKeys"),
    }
    return [name for name, value in granted.items() if value is True]


# -- the accumulator -------------------------------------------------------------------------


def _ref(kind: str, item_id: Any, label: str | None, detail: str) -> dict[str, Any]:
    return {"kind": kind, "id": item_id, "label": label, "detail": detail}


@attrs.define
class Findings:
    """The findings, accumulated one object at a time as the audit streams them."""

    as_of: datetime
    inactive_days: int
    role_urns: Mapping[str, tuple[str, ...] | None] = attrs.Factory(dict)
    """Cloud One role ID -> its service role URNs, as far as the roles could be read."""
    found: dict[str, list[dict[str, Any]]] = attrs.Factory(
        lambda: {rule_id: [] for rule_id in RULES}
    )

    @property
    def inactive_since(self) -> datetime:
        """Objects not active since this time are inactive."""
        return self.as_of - timedelta(days=self.inactive_days)

    def _privilege(self, role_id: str | None) -> Privilege:
        return privilege_of(role_id, self.role_urns.get(role_id or ""))

    def _inactive(self, last_activity: datetime | None, created: datetime | None) -> str | None:
        """Why an object counts as inactive, or None: not active since the period began,
        or never active though created before it (a new account is not inactive)."""
        if last_activity is not None:
            if last_activity < self.inactive_since:
                return f"last active {cell(last_activity)}"
            return None
        if created is None or created < self.inactive_since:
            return f"never active, created {cell(created) or 'at an unknown time'}"
        return None

    def add_user(self, user: c1iam.User) -> None:
        """Judge one user."""
        label = user.email or user.name
        privilege = self._privilege(user.role_id)
        role = f"role {user.role_id}"
        if user.state == "disabled":
            self.found["user-disabled"].append(_ref("user", user.id, label, role))
            return
        if not user.mfa_enabled and privilege != "read":
            rule = (
                "user-full-access-without-mfa"
                if privilege == "full"
                else "user-write-role-without-mfa"
            )
            self.found[rule].append(_ref("user", user.id, label, f"{role}, no MFA"))
        inactive = self._inactive(user.last_activity, user.created)
        if inactive is not None and privilege != "read":
            self.found["user-inactive-write-role"].append(
                _ref("user", user.id, label, f"{role}, {inactive}")
            )

    def add_api_key(self, key: c1iam.ApiKey) -> None:
        """Judge one API key."""
        label = key.alias
        privilege = self._privilege(key.role_id)
        role = f"role {key.role_id}"
        if key.enabled is False:
            self.found["api-key-disabled"].append(_ref("api_key", key.id, label, role))
            return
        if usable_from_anywhere(key.allowed_ips, key.allowed_cidrs) and privilege != "read":
            rule = (
                "api-key-full-access-any-address" if privilege == "full" else "api-key-any-address"
            )
            self.found[rule].append(_ref("api_key", key.id, label, f"{role}, no address limit"))
        inactive = self._inactive(key.last_activity, key.created)
        if inactive is None:
            return
        if key.last_activity is None:
            self.found["api-key-never-used"].append(
                _ref("api_key", key.id, label, f"{role}, {inactive}")
            )
        if privilege != "read":
            self.found["api-key-inactive-write-role"].append(
                _ref("api_key", key.id, label, f"{role}, {inactive}")
            )

    def add_invitation(self, invitation: c1iam.Invitation) -> None:
        """Judge one invitation."""
        expired = invitation.state == "expired" or (
            invitation.expiry is not None and invitation.expiry <= self.as_of
        )
        role = f"role {invitation.role_id}"
        if expired:
            when = cell(invitation.expiry) or "state expired"
            self.found["invitation-expired"].append(
                _ref("invitation", invitation.id, invitation.email, f"{role}, expired {when}")
            )
        elif self._privilege(invitation.role_id) == "full":
            self.found["invitation-pending-full-access"].append(
                _ref("invitation", invitation.id, invitation.email, f"{role}, open")
            )

    def add_admin_role(self, role: c1iam.AdministratorRole) -> None:
        """Judge one Workload Security administrator role."""
        if not role.allow_web_service:
            return
        granted = _administration_rights(role.rights)
        if granted:
            self.found["admin-role-manages-access-via-api"].append(
                _ref("admin_role", role.id, role.name, "web service access; " + ", ".join(granted))
            )

    def set_account(self, account: c1iam.Account) -> None:
        """Judge the account itself."""
        if account.mfa_required is not True:
            self.found["account-mfa-not-required"].append(
                _ref("account", account.id, account.alias, "mfaRequired is off")
            )

    def as_list(self) -> list[dict[str, Any]]:
        """The findings as findings.json lists them: rules that fired, worst first."""
        return [
            {
                "id": rule.id,
                "severity": rule.severity,
                "reason": rule.reason,
                "remediation": rule.remediation,
                "count": len(self.found[rule.id]),
                "objects": self.found[rule.id],
            }
            for severity in SEVERITIES
            for rule in RULES.values()
            if rule.severity == severity and self.found[rule.id]
        ]
