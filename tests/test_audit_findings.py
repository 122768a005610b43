"""The audit's rules, judged one object at a time (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import c1iam
from c1iam.cli._findings import RULES, SEVERITIES, Findings, privilege_of, severity_at_least

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def findings() -> Findings:
    return Findings(as_of=AS_OF, inactive_days=90)


@pytest.mark.parametrize(
    ("role_id", "urns", "expected"),
    [
        ("full-access", None, "full"),
        ("custom", ("urn:cloudone:identity::role/full-access",), "full"),
        ("viewer", ("urn:cloudone:workload::role/read-only",), "read"),
        ("ops", ("urn:cloudone:workload::role/read-only", "urn:x::role/power-user"), "write"),
        ("read-only", None, "read"),
        ("unknown", None, "write"),  # unknown access is not called harmless
    ],
)
def test_privilege_of_a_cloud_one_role(
    role_id: str, urns: tuple[str, ...] | None, expected: str
) -> None:
    assert privilege_of(role_id, urns) == expected


def test_disabled_users_are_never_an_active_risk() -> None:
    judged = findings()
    old = AS_OF - timedelta(days=400)
    judged.add_user(
        c1iam.User(
            id="u1", role_id="full-access", state="disabled", mfa_enabled=False, last_activity=old
        )
    )
    assert {rule for rule, objects in judged.found.items() if objects} == {"user-disabled"}


def test_a_new_user_who_was_never_active_is_not_inactive() -> None:
    judged = findings()
    for user_id, created in (
        ("new", AS_OF - timedelta(days=3)),
        ("old", AS_OF - timedelta(days=300)),
    ):
        judged.add_user(
            c1iam.User(
                id=user_id, role_id="developer", state="enabled", mfa_enabled=True, created=created
            )
        )
    assert [o["id"] for o in judged.found["user-inactive-write-role"]] == ["old"]


def test_rights_are_read_as_the_api_defines_them() -> None:
    # As a manager answers: the nested tree of the API's own keys.
    rights: c1iam.Rights = {
        "platformRights": {
            "administratorRights": {"canViewAdministrators": True},
            "apikeyRights": {"canCreateNewApiKeys": True, "canViewApiKeys": True},
        },
    }
    judged = findings()
    judged.add_admin_role(
        c1iam.AdministratorRole(id=5, name="Keys", allow_web_service=True, rights=rights)
    )
    judged.add_admin_role(
        c1iam.AdministratorRole(id=6, name="UI", allow_web_service=False, rights=rights)
    )
    viewer: c1iam.Rights = {
        "platformRights": {"administratorRights": {"canViewAdministrators": True}}
    }
    judged.add_admin_role(
        c1iam.AdministratorRole(id=7, name="View", allow_web_service=True, rights=viewer)
    )
    (found,) = judged.found["admin-role-manages-access-via-api"]
    assert found["id"] == 5
    assert found["detail"] == "web service access; create API keys"


def test_expired_and_open_invitations() -> None:
    judged = findings()
    judged.role_urns = {"full-access": ("urn:cloudone:identity::role/full-access",)}
    for invitation_id, expiry, role in (
        ("A", AS_OF - timedelta(days=1), "read-only"),
        ("B", AS_OF + timedelta(days=1), "full-access"),
        ("C", AS_OF + timedelta(days=1), "read-only"),
    ):
        judged.add_invitation(c1iam.Invitation(id=invitation_id, role_id=role, expiry=expiry))
    assert [o["id"] for o in judged.found["invitation-expired"]] == ["A"]
    assert [o["id"] for o in judged.found["invitation-pending-full-access"]] == ["B"]


def test_severities_are_ordered_and_every_rule_has_one() -> None:
    assert severity_at_least("high", "low")
    assert not severity_at_least("low", "medium")
    assert {rule.severity for rule in RULES.values()} == set(SEVERITIES)
    assert all(rule.reason.endswith(".") and rule.remediation for rule in RULES.values())
