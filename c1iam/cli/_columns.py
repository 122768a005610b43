"""The columns of every kind of record, and how a value becomes a cell.

One table serves the audit's CSV files, `--format csv` and the terminal tables, so a
file written by one command reads the same as another's.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final, Literal

from ._safe import csv_cell

__all__ = ["COLUMNS", "TABLE_COLUMNS", "Kind", "cell", "csv_row"]

Kind = Literal["user", "api_key", "role", "admin_role", "invitation", "account"]

# Never a secret column: a listed key has no secret, and a file must never hold one.
COLUMNS: Final[dict[Kind, tuple[str, ...]]] = {
    "user": (
        "id", "name", "email", "role_id", "state", "mfa_enabled", "created", "last_modified",
        "last_activity", "locale", "timezone", "urn",
    ),
    "api_key": (
        "id", "alias", "description", "role_id", "enabled", "allowed_ips", "allowed_cidrs",
        "created", "last_modified", "last_activity", "locale", "timezone", "urn",
    ),
    "role": ("id", "name", "description", "service_role_urns", "created", "last_modified", "urn"),
    "admin_role": (
        "id", "name", "description", "immutable", "all_computers", "all_policies",
        "allow_user_interface", "allow_web_service",
        "can_only_manipulate_users_with_equal_or_lesser_rights", "computer_ids",
        "computer_group_ids", "policy_ids", "urn", "rights",
    ),
    "invitation": (
        "id", "email", "role_id", "state", "created", "last_modified", "expiry", "last_sent",
        "urn",
    ),
    "account": (
        "id", "alias", "locale", "timezone", "region", "state", "mfa_required", "created",
        "last_entitlement", "last_modified", "urn",
    ),
}  # fmt: skip
# A table is for reading on a terminal: the columns that matter at a glance.
TABLE_COLUMNS: Final[dict[Kind, tuple[str, ...]]] = {
    "user": ("id", "email", "role_id", "state", "mfa_enabled", "last_activity"),
    "api_key": ("id", "alias", "role_id", "enabled", "allowed_ips", "last_activity"),
    "role": ("id", "name", "service_role_urns"),
    "admin_role": ("id", "name", "immutable", "all_computers", "all_policies", "allow_web_service"),
    "invitation": ("id", "email", "role_id", "state", "expiry"),
    "account": ("id", "alias", "region", "state", "mfa_required"),
}


def cell(value: Any) -> str:
    """A model attribute as text: timestamps RFC 3339, lists space-separated, rights JSON."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, tuple | list):
        return " ".join(str(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def csv_row(record: Any, kind: Kind) -> list[str]:
    """A record's CSV row: every cell neutralised against formula injection."""
    return [csv_cell(cell(getattr(record, column))) for column in COLUMNS[kind]]
