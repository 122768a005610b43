"""The identity audit: stream every user, API key, Cloud One role, invitation and
administrator role, write CSVs and the findings as they come.

Nothing is loaded whole: the sources are streamed concurrently, each row is written as
its page arrives, and the findings keep only what they report. Every file is written
under a temporary name and renamed into place only once complete, so an interrupted or
failed audit leaves no file that pretends to be whole.

Partial access is a result: a source that cannot be read (a 401 or 403, a host that
cannot be reached) is recorded as unreadable, its file is not written, and the others
go on.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import urlsplit

import anyio
import attrs

import c1iam

from ._columns import COLUMNS, Kind, cell, csv_row
from ._failures import explain
from ._findings import SEVERITIES, Findings

__all__ = [
    "FILES",
    "SCHEMA_VERSION",
    "SOURCES",
    "AuditResult",
    "account_of",
    "atomic_file",
    "check_writable",
    "run_audit",
    "write_json",
]

SCHEMA_VERSION: Final = 1

# What the audit streams: (progress name, file, kind, API), in the order of the progress bars.
SOURCES: Final[tuple[tuple[str, str, Kind, str], ...]] = (
    ("roles", "cloud_one_roles.csv", "role", "accounts"),
    ("users", "users.csv", "user", "accounts"),
    ("api keys", "api_keys.csv", "api_key", "accounts"),
    ("invitations", "invitations.csv", "invitation", "accounts"),
    ("admin roles", "roles.csv", "admin_role", "workload"),
)
FILES: Final = {name: file_name for name, file_name, _, _ in SOURCES}


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.partial")


@contextlib.contextmanager
def _written(path: Path) -> Iterator[IO[str]]:
    """Write `path`'s temporary file; removed if anything goes wrong."""
    temporary = _temporary(path)
    try:
        try:
            file = temporary.open("w", newline="", encoding="utf-8")
        except OSError as error:
            # Name the file the user knows of, not the temporary one.
            raise OSError(error.errno, error.strerror, str(path)) from None
        with file:
            yield file
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[IO[str]]:
    """Write `path` through a temporary file that replaces it only on success."""
    with _written(path) as file:
        yield file
    os.replace(_temporary(path), path)


@contextlib.contextmanager
def staged_files() -> Iterator[list[Path]]:
    """Paths appended to the list, written with `_written`, are renamed into place
    together when the block ends normally, and their temporaries removed otherwise:
    an interrupted audit leaves no file at all, not a mix of old and new ones."""
    staged: list[Path] = []
    try:
        yield staged
    except BaseException:
        for path in staged:
            _temporary(path).unlink(missing_ok=True)
        raise
    for path in staged:
        os.replace(_temporary(path), path)


def check_writable(directory: Path) -> None:
    """Create `directory` if needed and prove a file can be written in it (`OSError`
    otherwise), so that an audit does not fail after minutes of streaming."""
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / f".c1iam-probe.{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()


def write_json(path: Path, document: Any) -> None:
    """Write a JSON document atomically."""
    with atomic_file(path) as file:
        json.dump(document, file, indent=2, ensure_ascii=False)
        file.write("\n")


def account_of(urn: str | None) -> tuple[str, str] | None:
    """(account ID, region) from an IAM URN: `urn:cloudone:identity:<region>:<account>:...`."""
    parts = (urn or "").split(":")
    if len(parts) >= 6 and parts[:3] == ["urn", "cloudone", "identity"] and len(parts[4]) == 12:
        return parts[4], parts[3]
    return None


Progress = Callable[[str, int], None]


@attrs.frozen
class AuditResult:
    """What an audit wrote and found: `document` is findings.json's content."""

    document: dict[str, Any]
    files: tuple[Path, ...]

    @property
    def complete(self) -> bool:
        """Whether every source could be read."""
        return not self.document["unreadable"]


@attrs.define
class _Audit:
    session: c1iam.Session
    out: Path
    findings: Findings
    progress: Progress | None
    counts: dict[str, int | None] = attrs.Factory(dict)
    unreadable: list[dict[str, str]] = attrs.Factory(list)
    written: list[Path] = attrs.Factory(list)
    """Files complete, to be renamed into place when the whole audit is."""
    per_role: Counter[str] = attrs.Factory(Counter)
    account_ids: Counter[tuple[str, str]] = attrs.Factory(Counter)
    account: c1iam.Account | None = None

    def host(self, api: str) -> str:
        url = self.session.accounts_url if api == "accounts" else self.session.workload_url
        return urlsplit(url).netloc

    async def guarded(self, name: str, api: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work`; an error of the service or the network makes `name` unreadable."""
        try:
            await work()
        except c1iam.C1IAMError as error:
            self.unreadable.append(
                {
                    "source": name,
                    "api": api,
                    "host": self.host(api),
                    "error": explain(error, self.host(api)),
                }
            )

    async def source(
        self, name: str, stream: c1iam.Stream[Any], add: Callable[[Any], None]
    ) -> None:
        """Stream one source into its CSV file, judging every record."""
        (_, file_name, kind, api) = next(source for source in SOURCES if source[0] == name)

        async def work() -> None:
            count = 0
            path = self.out / file_name
            with _written(path) as file:
                writer = csv.writer(file)
                writer.writerow(COLUMNS[kind])
                async for page in stream.pages():
                    for record in page.items:
                        writer.writerow(csv_row(record, kind))
                        add(record)
                        found = account_of(getattr(record, "urn", None))
                        if found is not None:
                            self.account_ids[found] += 1
                    count += len(page.items)
                    if self.progress is not None:
                        self.progress(name, len(page.items))
            self.written.append(path)
            self.counts[name.replace(" ", "_")] = count

        await self.guarded(name, api, work)
        if self.counts[name.replace(" ", "_")] is None:
            # No file from an earlier audit may stand in for the one that failed.
            (self.out / file_name).unlink(missing_ok=True)

    def add_role(self, role: c1iam.CloudOneRole) -> None:
        assert isinstance(self.findings.role_urns, dict)
        self.findings.role_urns[role.id] = role.service_role_urns

    def add_user(self, user: c1iam.User) -> None:
        self.per_role[user.role_id or "(none)"] += 1
        self.findings.add_user(user)

    async def iam(self) -> None:
        session = self.session
        # Roles first: whether a user's role is full access, write or read depends on them.
        await self.source("roles", session.roles.list(page_size=100), self.add_role)
        async with anyio.create_task_group() as group:
            group.start_soon(self.source, "users", session.users.list(page_size=100), self.add_user)
            group.start_soon(
                self.source,
                "api keys",
                session.api_keys.list(page_size=100),
                self.findings.add_api_key,
            )
            group.start_soon(
                self.source,
                "invitations",
                session.invitations.list(page_size=100),
                self.findings.add_invitation,
            )
        if not self.account_ids:
            return
        # The account the objects belong to, as their URNs name it.
        (account_id, _), _ = self.account_ids.most_common(1)[0]

        async def describe() -> None:
            self.account = await session.accounts.describe(account_id)
            self.findings.set_account(self.account)

        await self.guarded("account", "accounts", describe)

    async def workload(self) -> None:
        await self.source(
            "admin roles",
            self.session.administrator_roles.search(page_size=500),
            self.findings.add_admin_role,
        )

    def document(self) -> dict[str, Any]:
        account = self.account
        listed = self.findings.as_list()
        region = account.region if account and account.region else None
        if region is None and self.account_ids:
            region = self.account_ids.most_common(1)[0][0][1]
        return {
            "schema_version": SCHEMA_VERSION,
            "generator": f"c1iam {c1iam.__version__}",
            "as_of": cell(self.findings.as_of),
            "inactive_days": self.findings.inactive_days,
            "account": None
            if account is None
            else {
                "id": account.id,
                "alias": account.alias,
                "region": account.region,
                "mfa_required": account.mfa_required,
            },
            "region": region or self.session.region,
            "hosts": {"accounts": self.host("accounts"), "workload": self.host("workload")},
            "complete": not self.unreadable,
            "unreadable": self.unreadable,
            "counts": {
                **self.counts,
                "findings": {
                    severity: sum(f["count"] for f in listed if f["severity"] == severity)
                    for severity in SEVERITIES
                },
            },
            "findings": listed,
            "users_per_role": dict(sorted(self.per_role.items())),
        }


async def run_audit(
    session: c1iam.Session,
    out: Path,
    *,
    inactive_days: int,
    as_of: datetime,
    progress: Progress | None = None,
) -> AuditResult:
    """Audit `session`'s account into `out` (an existing directory): a CSV per source
    that could be read, and findings.json."""
    audit = _Audit(session, out, Findings(as_of=as_of, inactive_days=inactive_days), progress)
    audit.counts = {name.replace(" ", "_"): None for name, *_ in SOURCES}
    with staged_files() as staged:
        audit.written = staged
        async with anyio.create_task_group() as group:
            group.start_soon(audit.iam)
            group.start_soon(audit.workload)
        document = audit.document()
        with _written(out / "findings.json") as file:
            json.dump(document, file, indent=2, ensure_ascii=False)
            file.write("\n")
        staged.append(out / "findings.json")
    return AuditResult(document, tuple(staged))
