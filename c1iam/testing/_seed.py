"""Deterministic, realistic seed data for the fake (pure).

The same seed gives the same account. Users are built from small pools of strings, so a
million of them take seconds and the least memory dicts of strings can.
"""

from __future__ import annotations

import bisect
import functools
import random
import string
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

__all__ = [
    "ACCOUNT_ID",
    "INVITATION_DAYS",
    "REGION",
    "RIGHTS_SCHEMA_SAMPLE",
    "seed_account",
    "seed_api_keys",
    "seed_cloud_one_roles",
    "seed_invitations",
    "seed_roles",
    "seed_users",
]

REGION: Final = "us-1"
ACCOUNT_ID: Final = "123456789012"

_FIRST: Final = (
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "Edsger",
    "Radia",
    "Tim",
    "Hedy",
    "John",
    "Katherine",
    "Guido",
)
_LAST: Final = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Backus",
    "Johnson",
    "van Rossum",
)
# Weighted as a real account: many readers, few full administrators.
_ROLES: Final = (
    ("read-only",) * 8
    + ("developer",) * 4
    + ("auditor",) * 3
    + ("workload-admin",) * 3
    + ("full-access",) * 2
)
# Short codes, as the API reference's examples write them.
_LOCALES: Final = ("en", "en", "ja", "de", "fr")
_ZONES: Final = (
    "America/Toronto",
    "America/New_York",
    "Europe/London",
    "Asia/Tokyo",
    "Europe/Berlin",
    "UTC",
)


def _today() -> datetime:
    # The data is dated back from today (midnight UTC), so that a demo run any day shows
    # recent activity and open invitations; the same seed gives the same data that day.
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _timestamps(rng: random.Random, days: int, count: int = 4096) -> tuple[str, ...]:
    # A pool of timestamps, sorted, so a later pick can be made not earlier than another.
    pool, after = _timestamp_pool(rng.getstate(), days, count, _today())
    rng.setstate(after)  # as if the pool had been drawn from `rng` here
    return pool


@functools.lru_cache(maxsize=16)
def _timestamp_pool(
    state: tuple[Any, ...], days: int, count: int, now: datetime
) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    # Formatting thousands of timestamps is most of the cost of a fake account, and test
    # suites make many alike: a pool is made once per generator state, seed and day.
    rng = random.Random()  # noqa: S311 - test data, not secrets
    rng.setstate(state)
    pool = tuple(
        sorted(
            (now - timedelta(seconds=rng.randrange(days * 86_400))).strftime("%Y-%m-%dT%H:%M:%SZ")
            for _ in range(count)
        )
    )
    return pool, rng.getstate()


def _iam_urn(kind: str, item_id: str) -> str:
    return f"urn:cloudone:identity:{REGION}:{ACCOUNT_ID}:{kind}/{item_id}"


def _active_after(rng: random.Random, pool: Sequence[str], created: str) -> str | None:
    # Activity is never before creation: pick from the part of the pool after `created`;
    # an account created after the whole pool was never active.
    first = bisect.bisect_left(pool, created)
    return None if first == len(pool) else pool[rng.randrange(first, len(pool))]


def seed_users(count: int, seed: int) -> Iterator[dict[str, Any]]:
    """`count` users in wire form."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    created_pool = _timestamps(rng, 3 * 365)
    activity_pool = _timestamps(rng, 365)
    urn_prefix = _iam_urn("user", "")
    for number in range(count):
        user_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        created_at = rng.randrange(len(created_pool))
        created = created_pool[created_at]
        modified = created_pool[rng.randrange(created_at, len(created_pool))]
        active = rng.random() >= 0.1
        yield {
            "id": user_id,
            "name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower().replace(' ', '')}{number}@example.com",
            "roleID": rng.choice(_ROLES),
            "locale": rng.choice(_LOCALES),
            "timezone": rng.choice(_ZONES),
            "state": "enabled" if rng.random() < 0.85 else "disabled",
            "mfaEnabled": rng.random() < 0.7,
            "created": created,
            "lastModified": modified,
            "lastActivity": _active_after(rng, activity_pool, created) if active else None,
            "urn": urn_prefix + user_id,
        }


_TEAMS: Final = (
    "Platform",
    "Security",
    "Finance",
    "Support",
    "Research",
    "Operations",
    "Compliance",
    "Network",
    "Cloud",
    "Data",
)
_JOBS: Final = ("Auditor", "Operator", "Administrator", "Analyst", "Responder", "Viewer")
# A part of the API's rights tree (the `Rights` schema of the Workload Security API):
# group -> member -> the member's own leaves. Only keys the schema defines.
RIGHTS_SCHEMA_SAMPLE: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "platformRights": {
        "computerRights": (
            "canViewOtherComputers",
            "canEditComputerProperties",
            "canCreateNewComputers",
            "canDeleteComputers",
        ),
        "policyRights": (
            "canViewOtherPolicies",
            "canEditPolicyProperties",
            "canCreateNewPolicies",
            "canDeletePolicies",
        ),
        "alertRights": ("canDismissGlobalAlerts",),
        "administratorRights": (
            "canViewAdministrators",
            "canEditAdministratorProperties",
            "canCreateNewAdministrators",
            "canDeleteAdministrators",
        ),
        "administratorRoleRights": (
            "canViewAdministratorRoles",
            "canEditAdministratorRoleProperties",
            "canCreateNewAdministratorRoles",
            "canDeleteAdministratorRoles",
        ),
        "apikeyRights": (
            "canViewApiKeys",
            "canEditApiKeyProperties",
            "canCreateNewApiKeys",
            "canDeleteApiKeys",
        ),
    },
    "antiMalwareRights": {
        "antiMalwareConfigurationRights": (
            "canEditAntiMalwareConfigurations",
            "canCreateNewAntiMalwareConfigurations",
            "canDeleteAntiMalwareConfigurations",
        ),
    },
    "firewallRights": {
        "firewallRuleRights": (
            "canEditFirewallRuleProperties",
            "canCreateNewFirewallRules",
            "canDeleteFirewallRules",
        ),
    },
    "intrusionPreventionRights": {
        "intrusionPreventionRuleRights": (
            "canEditIntrusionPreventionRuleProperties",
            "canCreateNewIntrusionPreventionRules",
            "canDeleteIntrusionPreventionRules",
        ),
    },
}
# The members that manage who can sign in or call the API: rarely granted.
_ADMINISTRATION: Final = frozenset(
    {"administratorRights", "administratorRoleRights", "apikeyRights"}
)


def _rights(rng: random.Random, full: bool, view_only: bool = False) -> dict[str, Any]:
    rights: dict[str, Any] = {}
    for group, members in RIGHTS_SCHEMA_SAMPLE.items():
        if not (full or view_only or rng.random() < 0.6):
            continue
        granted: dict[str, Any] = {}
        administration = full or rng.random() < 0.1
        for member, leaves in members.items():
            if member in _ADMINISTRATION and not (administration or view_only):
                continue
            granted[member] = {
                leaf: full or (leaf.startswith("canView") or (not view_only and rng.random() < 0.5))
                for leaf in leaves
            }
        rights[group] = granted
    return rights


def seed_roles(count: int, seed: int) -> Iterator[dict[str, Any]]:
    """`count` administrator roles in wire form, IDs 1 to `count`; 1 and 2 immutable."""
    rng = random.Random(seed + 1)  # noqa: S311 - test data, not secrets
    urn = "urn:tmds:identity:us-east-ds-1:78884:administratorRole/"
    defaults = [
        ("Full Access", "Full access to every computer, policy and setting.", True),
        ("Auditor", "Read-only access to every computer and policy.", False),
    ]
    for role_id in range(1, count + 1):
        immutable = role_id <= len(defaults)
        description: str | None
        if immutable:
            name, description, full = defaults[role_id - 1]
            all_access = True
            view_only = not full
        else:
            name = f"{rng.choice(_TEAMS)} {rng.choice(_JOBS)} {role_id}"
            description = None if rng.random() < 0.2 else f"Role for the {name} team."
            full = view_only = False
            all_access = rng.random() < 0.2
        yield {
            "ID": role_id,
            "name": name,
            "description": description,
            "urn": f"{urn}{role_id}",
            "immutable": immutable,
            "canOnlyManipulateUsersWithEqualOrLesserRights": not full,
            "allComputers": all_access or rng.random() < 0.1,
            "allPolicies": all_access or rng.random() < 0.1,
            "allowUserInterface": full or rng.random() < 0.8,
            "allowWebService": full or rng.random() < 0.3,
            "rights": _rights(rng, full, view_only),
            "computerIDs": sorted(rng.sample(range(1, 500), rng.randrange(0, 6))),
            "computerGroupIDs": sorted(rng.sample(range(50), rng.randrange(0, 3))),
            "policyIDs": sorted(rng.sample(range(1, 100), rng.randrange(0, 4))),
        }


# The Cloud One roles the seeded users and keys hold, with the service roles they grant.
_CLOUD_ONE_ROLES: Final = {
    "full-access": ("Full Access", ("urn:cloudone:identity::role/full-access",)),
    "read-only": ("Read Only", ("urn:cloudone:identity::role/read-only",)),
    "developer": (
        "Developer",
        ("urn:cloudone:workload::role/read-only", "urn:cloudone:conformity::role/power-user"),
    ),
    "auditor": ("Auditor", ("urn:cloudone:conformity::role/read-only",)),
    "workload-admin": ("Workload Administrator", ("urn:cloudone:workload::role/full-access",)),
}


def seed_cloud_one_roles() -> Iterator[dict[str, Any]]:
    """The Cloud One roles that seeded users and API keys refer to."""
    created = "2023-01-01T00:00:00Z"
    for role_id, (name, urns) in _CLOUD_ONE_ROLES.items():
        yield {
            "id": role_id,
            "name": name,
            "description": f"The {name} role.",
            "serviceRoleURNs": list(urns),
            "created": created,
            "lastModified": created,
            "urn": _iam_urn("role", role_id),
        }


def seed_api_keys(count: int, seed: int) -> Iterator[dict[str, Any]]:
    """`count` API keys in wire form (never with a secret): some restricted to addresses,
    some disabled, some unused for months, as in an account nobody has cleaned up."""
    rng = random.Random(seed + 2)  # noqa: S311 - test data, not secrets
    created_pool = _timestamps(rng, 3 * 365)
    activity_pool = _timestamps(rng, 365)
    alphabet = string.ascii_letters + string.digits
    for number in range(count):
        key_id = "".join(rng.choice(alphabet) for _ in range(27))
        created_at = rng.randrange(len(created_pool))
        restricted = rng.random() < 0.4
        yield {
            "id": key_id,
            "alias": f"{rng.choice(_TEAMS).lower()}-automation-{number}",
            "description": None if rng.random() < 0.3 else "Used by a scheduled job.",
            "roleID": rng.choice(_ROLES),
            "locale": rng.choice(_LOCALES),
            "timezone": rng.choice(_ZONES),
            "allowedIPs": [f"203.0.113.{rng.randrange(1, 255)}"] if restricted else [],
            # Some "restrictions" that let every address in: an audit must see through them.
            "allowedCIDRs": [rng.choice(["198.51.100.0/24", "198.51.100.0/24", "0.0.0.0/0"])]
            if restricted and rng.random() < 0.5
            else [],
            "enabled": rng.random() < 0.85,
            "created": created_pool[created_at],
            "lastModified": created_pool[rng.randrange(created_at, len(created_pool))],
            "lastActivity": None
            if rng.random() < 0.15
            else _active_after(rng, activity_pool, created_pool[created_at]),
            "urn": _iam_urn("apikey", key_id),
        }


INVITATION_DAYS: Final = 7  # how long an invitation stays valid


def _later(stamp: str, days: int) -> str:
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return (moment + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_invitations(count: int, seed: int) -> Iterator[dict[str, Any]]:
    """`count` invitations in wire form, sent over the last 30 days: valid for a week,
    so the older ones have expired. The first is to full access, the second expired."""
    rng = random.Random(seed + 3)  # noqa: S311 - test data, not secrets
    sent_pool = _timestamps(rng, 30)
    recent = sent_pool[-len(sent_pool) // 8 :]  # the last few days
    oldest = sent_pool[: len(sent_pool) // 2]
    for number in range(count):
        # IDs as the reference's examples show them: 32 upper-case hex characters.
        invitation_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex.upper()
        role = "full-access" if number == 0 else rng.choice(_ROLES)
        sent = rng.choice(recent if number == 0 else oldest if number == 1 else sent_pool)
        yield {
            "id": invitation_id,
            "email": f"invitee{number}@example.com",
            "roleID": role,
            "state": "invited",
            "created": sent,
            "lastModified": sent,
            "expiry": _later(sent, INVITATION_DAYS),
            "lastSent": sent,
            "urn": _iam_urn("invitation", invitation_id),
        }


def seed_account() -> dict[str, Any]:
    """The fake's one account."""
    created = "2022-03-14T09:26:53Z"
    return {
        "id": ACCOUNT_ID,
        "alias": "Demo account",
        "locale": "en",
        "timezone": "UTC",
        "region": REGION,
        "state": "active",
        "mfaRequired": False,
        "created": created,
        "lastEntitlement": created,
        "lastModified": created,
        "urn": _iam_urn("account", ACCOUNT_ID),
        "links": [],
    }
