"""The identity audit: stream every user, API key and administrator role, write CSVs and
findings as they come.

Nothing is loaded whole: the three are streamed concurrently, each row is written
as its page arrives, and the findings keep only what they report. Every file is written
under a temporary name and renamed into place only once complete, so an interrupted or
failed audit leaves no file that pretends to be whole.
"""

from __future__ import annotations

import contextlib
import csv
import ipaddress
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import anyio
import attrs

import c1iam

__all__ = ["AuditReport", "Findings", "atomic_file", "run_audit"]

# What the audit streams, in the order of its files and progress bars.
SOURCES = ("users", "api keys", "roles")

USER_COLUMNS = (
    "id", "name", "email", "role_id", "state", "mfa_enabled", "created", "last_modified",
    "last_activity", "locale", "timezone", "urn",
)  # fmt: skip
# Never a secret column: a listed key has no secret, and a file must never hold one.
API_KEY_COLUMNS = (
    "id", "alias", "description", "role_id", "enabled", "allowed_ips", "allowed_cidrs",
    "created", "last_modified", "last_activity", "locale", "timezone", "urn",
)  # fmt: skip
ROLE_COLUMNS = (
    "id", "name", "description", "immutable", "all_computers", "all_policies",
    "allow_user_interface", "allow_web_service",
    "can_only_manipulate_users_with_equal_or_lesser_rights", "computer_ids",
    "computer_group_ids", "policy_ids", "urn",
)  # fmt: skip


def cell(value: Any) -> str:
    """A model attribute as a CSV cell: timestamps RFC 3339, ID lists space-separated."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, tuple):
        return " ".join(str(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[IO[str]]:
    """Write `path` through a temporary file that replaces it only on success."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with temporary.open("w", newline="", encoding="utf-8") as file:
            yield file
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _user_ref(user: c1iam.User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name}


def _key_ref(key: c1iam.ApiKey) -> dict[str, Any]:
    return {"id": key.id, "alias": key.alias, "role_id": key.role_id}


def _usable_from_anywhere(key: c1iam.ApiKey) -> bool:
    """No address restriction at all, or one that lets every address in (`0.0.0.0/0`)."""
    if not key.allowed_ips and not key.allowed_cidrs:
        return True
    for block in key.allowed_cidrs or ():
        with contextlib.suppress(ValueError):
            if ipaddress.ip_network(block, strict=False).prefixlen == 0:
                return True
    return False


def _role_ref(role: c1iam.AdministratorRole) -> dict[str, Any]:
    return {"id": role.id, "name": role.name}


@attrs.define
class Findings:
    """What the audit reports, accumulated one user, key and role at a time."""

    inactive_since: datetime
    users: int = 0
    api_keys: int = 0
    roles: int = 0
    without_mfa: list[dict[str, Any]] = attrs.Factory(list)
    inactive: list[dict[str, Any]] = attrs.Factory(list)
    never_active: list[dict[str, Any]] = attrs.Factory(list)
    disabled: list[dict[str, Any]] = attrs.Factory(list)
    per_role: Counter[str] = attrs.Factory(Counter)
    keys_unrestricted: list[dict[str, Any]] = attrs.Factory(list)
    keys_disabled: list[dict[str, Any]] = attrs.Factory(list)
    keys_inactive: list[dict[str, Any]] = attrs.Factory(list)
    keys_never_used: list[dict[str, Any]] = attrs.Factory(list)
    all_computers: list[dict[str, Any]] = attrs.Factory(list)
    all_policies: list[dict[str, Any]] = attrs.Factory(list)
    web_service: list[dict[str, Any]] = attrs.Factory(list)
    immutable: list[dict[str, Any]] = attrs.Factory(list)

    def add_user(self, user: c1iam.User) -> None:
        """Count a user in every finding it belongs to."""
        self.users += 1
        self.per_role[user.role_id or "(none)"] += 1
        if not user.mfa_enabled:
            self.without_mfa.append(_user_ref(user))
        if user.state == "disabled":
            self.disabled.append(_user_ref(user))
        self._by_activity(user.last_activity, _user_ref(user), self.never_active, self.inactive)

    def add_api_key(self, key: c1iam.ApiKey) -> None:
        """Count an API key in every finding it belongs to."""
        self.api_keys += 1
        if _usable_from_anywhere(key):
            self.keys_unrestricted.append(_key_ref(key))
        if key.enabled is False:
            self.keys_disabled.append(_key_ref(key))
        self._by_activity(
            key.last_activity, _key_ref(key), self.keys_never_used, self.keys_inactive
        )

    def _by_activity(
        self,
        last_activity: datetime | None,
        ref: dict[str, Any],
        never: list[dict[str, Any]],
        inactive: list[dict[str, Any]],
    ) -> None:
        # Users and keys are judged alike: never active, or not since `inactive_since`.
        if last_activity is None:
            never.append(ref)
        elif last_activity < self.inactive_since:
            inactive.append({**ref, "last_activity": cell(last_activity)})

    def add_role(self, role: c1iam.AdministratorRole) -> None:
        """Count a role in every finding it belongs to."""
        self.roles += 1
        for wanted, found in (
            (role.all_computers, self.all_computers),
            (role.all_policies, self.all_policies),
            (role.allow_web_service, self.web_service),
            (role.immutable, self.immutable),
        ):
            if wanted:
                found.append(_role_ref(role))

    def summary(self) -> list[tuple[str, str, int]]:
        """(key, label, count) rows: keys for findings.json, labels for people."""
        since = self.inactive_since.date().isoformat()
        return [
            ("users", "users", self.users),
            ("api_keys", "API keys", self.api_keys),
            ("roles", "administrator roles", self.roles),
            ("users_without_mfa", "users without MFA", len(self.without_mfa)),
            ("inactive_users", f"users inactive since {since}", len(self.inactive)),
            ("never_active_users", "users never active", len(self.never_active)),
            ("disabled_users", "disabled users", len(self.disabled)),
            (
                "api_keys_without_ip_restrictions",
                "API keys usable from any address",
                len(self.keys_unrestricted),
            ),
            ("disabled_api_keys", "disabled API keys", len(self.keys_disabled)),
            ("inactive_api_keys", f"API keys unused since {since}", len(self.keys_inactive)),
            ("never_used_api_keys", "API keys never used", len(self.keys_never_used)),
            ("roles_with_all_computers", "roles with all computers", len(self.all_computers)),
            ("roles_with_all_policies", "roles with all policies", len(self.all_policies)),
            (
                "roles_with_web_service_access",
                "roles with web service access",
                len(self.web_service),
            ),
            ("immutable_roles", "immutable roles", len(self.immutable)),
        ]

    def as_json(self, as_of: datetime, inactive_days: int) -> dict[str, Any]:
        """The findings.json document."""
        return {
            "as_of": cell(as_of),
            "inactive_days": inactive_days,
            "counts": {key: count for key, _, count in self.summary()},
            "users_without_mfa": self.without_mfa,
            "inactive_users": self.inactive,
            "never_active_users": self.never_active,
            "disabled_users": self.disabled,
            "users_per_role": dict(sorted(self.per_role.items())),
            "api_keys_without_ip_restrictions": self.keys_unrestricted,
            "disabled_api_keys": self.keys_disabled,
            "inactive_api_keys": self.keys_inactive,
            "never_used_api_keys": self.keys_never_used,
            "roles_with_all_computers": self.all_computers,
            "roles_with_all_policies": self.all_policies,
            "roles_with_web_service_access": self.web_service,
            "immutable_roles": self.immutable,
        }


@attrs.frozen
class AuditReport:
    """What an audit wrote and found."""

    findings: Findings
    files: tuple[Path, ...]


Progress = Callable[[str, int], None]


@attrs.frozen
class _Source:
    """One stream of the audit and the CSV file it becomes."""

    file_name: str
    stream: c1iam.Stream[Any]
    columns: tuple[str, ...]
    add: Callable[[Any], None]


async def _write_rows(
    stream: c1iam.Stream[Any],
    file: IO[str],
    columns: tuple[str, ...],
    add: Callable[[Any], None],
    name: str,
    progress: Progress | None,
) -> None:
    """Write a CSV row and count the findings of every record, page by page."""
    writer = csv.writer(file)
    writer.writerow(columns)
    async for page in stream.pages():
        for record in page.items:
            writer.writerow([cell(getattr(record, column)) for column in columns])
            add(record)
        if progress is not None:
            progress(name, len(page.items))


async def run_audit(
    session: c1iam.Session,
    out: Path,
    *,
    inactive_days: int,
    as_of: datetime,
    progress: Progress | None = None,
) -> AuditReport:
    """Audit every user, API key and administrator role of `session` into `out` (an
    existing directory)."""
    findings = Findings(inactive_since=as_of - timedelta(days=inactive_days))
    sources = (
        _Source("users.csv", session.users.list(page_size=100), USER_COLUMNS, findings.add_user),
        _Source(
            "api_keys.csv",
            session.api_keys.list(page_size=100),
            API_KEY_COLUMNS,
            findings.add_api_key,
        ),
        _Source(
            "roles.csv",
            session.administrator_roles.search(page_size=500),
            ROLE_COLUMNS,
            findings.add_role,
        ),
    )
    paths = (*(out / source.file_name for source in sources), out / "findings.json")
    with contextlib.ExitStack() as files:
        *csv_files, findings_file = [files.enter_context(atomic_file(path)) for path in paths]
        # All at once: one failing cancels the others, and the error surfaces.
        async with anyio.create_task_group() as group:
            for name, source, file in zip(SOURCES, sources, csv_files, strict=True):
                group.start_soon(
                    _write_rows, source.stream, file, source.columns, source.add, name, progress
                )
        json.dump(findings.as_json(as_of, inactive_days), findings_file, indent=2)
        findings_file.write("\n")
    return AuditReport(findings, paths)
