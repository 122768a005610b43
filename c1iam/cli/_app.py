"""The `c1iam` command: click for arguments, rich for tables and progress."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import attrs
import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import c1iam
from c1iam.models.users import UserState
from c1iam.resources._base import check_int32_id, check_uuid
from c1iam.testing import FakeCloudOne, RateLimit

from ._audit import SOURCES, run_audit
from ._output import FORMATS, write_records

__all__ = ["cli"]

T = TypeVar("T")

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# The demo account: big enough to page, throttled enough to show the limiter at work.
DEMO_USERS = 3000
DEMO_API_KEYS = 150
DEMO_ROLES = 200
DEMO_RATE_LIMIT = RateLimit(rate=20, burst=10)

stderr = Console(stderr=True)


class Failure(click.ClickException):
    """A failure reported by the services or the network: one line on stderr, exit 1."""

    exit_code = EXIT_FAILED

    def show(self, file: Any = None) -> None:
        click.echo(f"c1iam: error: {self.format_message()}", err=True)


class UsageFailure(Failure):
    """A usage or configuration error: one line on stderr, exit 2."""

    exit_code = EXIT_USAGE


# The library's messages name its arguments; a user of the command typed these flags.
FLAGS = {
    "accounts_url": "--accounts-url",
    "workload_url": "--workload-url",
    "max_concurrency": "--max-concurrency",
    "legacy_auth": "--legacy-auth",
    "role_id": "--role-id",
}


def usage_message(error: Exception) -> str:
    """`error`'s message with the library's argument names replaced by the command's flags."""
    message = str(error)
    for argument, flag in FLAGS.items():
        message = re.sub(rf"(?<![\w-]){argument}\b", flag, message)
    return message


@attrs.frozen(kw_only=True)
class Target:
    """Where and how to connect, from the global options."""

    demo: bool
    region: str | None
    accounts_url: str | None
    workload_url: str | None
    api_key_file: Path | None
    legacy_auth: bool
    max_concurrency: int
    rate: float | None

    def api_key(self) -> str:
        """The key: from --api-key-file, else C1IAM_API_KEY (never from the command line)."""
        if self.api_key_file is not None:
            try:
                key = self.api_key_file.read_text(encoding="utf-8").strip()
            except OSError as error:
                raise UsageFailure(f"cannot read --api-key-file: {error.strerror}") from None
            if not key:
                raise UsageFailure("--api-key-file is empty")
            return key
        key = os.environ.get("C1IAM_API_KEY", "")
        if not key:
            raise UsageFailure(
                "no API key: set the environment variable C1IAM_API_KEY or pass --api-key-file"
            )
        return key

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[c1iam.Session]:
        """A session to the real services, or to the embedded fake with --demo."""
        options: dict[str, Any] = {
            "legacy_auth": self.legacy_auth,
            "max_concurrency": self.max_concurrency,
            "rate": self.rate,
        }
        if self.demo:
            async with FakeCloudOne(
                users=DEMO_USERS, api_keys=DEMO_API_KEYS, roles=DEMO_ROLES, seed=7
            ) as fake:
                fake.rate_limit = DEMO_RATE_LIMIT
                stderr.print(
                    f"[dim]demo: a fake account with {DEMO_USERS} users, {DEMO_API_KEYS} API "
                    f"keys and {DEMO_ROLES} roles, limited to {DEMO_RATE_LIMIT.rate:g} requests/s, "
                    f"at {fake.accounts_url}[/dim]"
                )
                async with c1iam.Session(
                    fake.api_key,
                    accounts_url=fake.accounts_url,
                    workload_url=fake.workload_url,
                    **options,
                ) as session:
                    yield session
            return
        try:
            session = c1iam.Session(
                self.api_key(),
                region=self.region,
                accounts_url=self.accounts_url,
                workload_url=self.workload_url,
                **options,
            )
        except ValueError as error:
            raise UsageFailure(usage_message(error)) from None
        async with session:
            yield session


def run(target: Target, work: Callable[[c1iam.Session], Awaitable[T]]) -> T:
    """Run `work` with a session; library errors become one line and an exit code."""

    async def main() -> T:
        async with target.session() as session:
            return await work(session)

    try:
        return asyncio.run(main())
    except c1iam.InvalidArgument as error:
        raise UsageFailure(usage_message(error)) from None
    except c1iam.C1IAMError as error:
        raise Failure(f"{type(error).__name__}: {error}") from None
    except OSError as error:  # writing the output
        raise Failure(f"{error.strerror}: {error.filename}") from None


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=(
        "Credentials come from the environment variable C1IAM_API_KEY or --api-key-file, "
        "never from the command line. Exit codes: 0 success, 1 a failure reported by the "
        "services or the network, 2 a usage or configuration error, 130 interrupted."
    ),
)
@click.option("--demo", is_flag=True, help="Run against an embedded fake account (no key needed).")
@click.option("--region", envvar="C1IAM_REGION", help="Cloud One region (default us-1).")
@click.option("--accounts-url", envvar="C1IAM_ACCOUNTS_URL", help="IAM base URL.")
@click.option("--workload-url", envvar="C1IAM_WORKLOAD_URL", help="Workload Security base URL.")
@click.option(
    "--api-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the API key from this file.",
)
@click.option("--legacy-auth", is_flag=True, help="The key is a legacy api-secret-key.")
@click.option("--max-concurrency", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="Requests/s at most.")
@click.option("-v", "--verbose", is_flag=True, help="Log every request and retry to stderr.")
@click.version_option(c1iam.__version__, prog_name="c1iam")
@click.pass_context
def cli(context: click.Context, /, verbose: bool, **options: Any) -> None:
    """Audit and manage Cloud One identities: IAM users, Workload Security roles."""
    if verbose:
        logging.basicConfig(format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
        logging.getLogger("c1iam").setLevel(logging.DEBUG)
    context.obj = Target(**options)


@cli.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for users.csv, api_keys.csv, roles.csv and findings.json.",
)
@click.option("--inactive-days", type=click.IntRange(min=1), default=90, show_default=True)
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]),
    help="Judge inactivity as of this time (default: now), for reproducible reports.",
)
@click.pass_obj
def audit(target: Target, out: Path, inactive_days: int, as_of: datetime | None) -> None:
    """Stream every user, API key and role; write CSVs and findings; print a summary."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageFailure(f"cannot use --out {out}: {error.strerror}") from None
    moment = datetime.now(UTC) if as_of is None else as_of
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    show_progress = sys.stderr.isatty()
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=None),
        TextColumn("{task.completed:,} [dim]{task.fields[rate]}[/dim]"),
        TimeElapsedColumn(),
        console=stderr,
        disable=not show_progress,
        transient=True,
    )

    async def work(session: c1iam.Session) -> Any:
        tasks = {name: progress.add_task(name, total=None, rate="") for name in SOURCES}

        def advance(name: str, count: int) -> None:
            stats = session.stats()
            pause = f", paused {stats.paused_for:.1f} s" if stats.paused_for else ""
            rate = "" if stats.rate is None else f"{stats.rate:.0f}/s allowed"
            note = f"{rate}, {stats.rate_limited} throttled{pause}" if stats.rate_limited else rate
            progress.update(tasks[name], advance=count, rate=note)

        with progress:
            return await run_audit(
                session, out, inactive_days=inactive_days, as_of=moment, progress=advance
            )

    report = run(target, work)
    table = Table(title=f"c1iam audit, {out}", title_justify="left")
    table.add_column("finding")
    table.add_column("count", justify="right")
    for _, label, count in report.findings.summary():
        table.add_row(label, f"{count:,}")
    Console().print(table)


@cli.group()
def users() -> None:
    """Cloud One IAM users."""


def _format_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(FORMATS),
        help="Output format (default: table on a terminal, else jsonl).",
    )


def _ids_from(arguments: Iterable[str], check: Callable[[str, Any], Any], name: str) -> list[str]:
    """IDs from the arguments, or one per line on stdin; all checked before any is used."""
    given = list(arguments)
    if not given or given == ["-"]:
        given = [line.strip() for line in sys.stdin if line.strip()]
    if not given:
        raise UsageFailure(f"no {name}s given (as arguments or on stdin)")
    bad = []
    for value in given:
        try:
            check(name, value)
        except ValueError:
            bad.append(value)
    if bad:
        raise UsageFailure(f"not a valid {name}: {', '.join(repr(b) for b in bad[:5])}")
    return given


def _report_bulk(results: list[c1iam.BulkResult[str, Any]]) -> None:
    for result in results:
        if result.ok:
            click.echo(f"{result.item} ok")
        else:
            click.echo(f"{result.item} error: {result.error}")
    failed = sum(1 for result in results if not result.ok)
    if failed:
        raise Failure(f"{failed} of {len(results)} failed")


@users.command("list")
@click.option("--role-id", help="Only users with this role ID.")
@click.option("--max-items", type=click.IntRange(min=1), help="Stop after this many.")
@_format_option()
@click.pass_obj
def users_list(
    target: Target, role_id: str | None, max_items: int | None, output_format: str | None
) -> None:
    """List users (streamed)."""

    async def work(session: c1iam.Session) -> None:
        stream = session.users.list(role_id=role_id, page_size=100, max_items=max_items)
        await write_records(stream, output_format, kind="user")

    run(target, work)


@users.command("describe")
@click.argument("user_id")
@_format_option()
@click.pass_obj
def users_describe(target: Target, user_id: str, output_format: str | None) -> None:
    """Show one user."""

    async def work(session: c1iam.Session) -> None:
        await write_records([await session.users.describe(user_id)], output_format, kind="user")

    run(target, work)


@users.command("modify")
@click.argument("user_ids", nargs=-1)
@click.option("--role-id", help="The new role ID.")
@click.option("--state", type=click.Choice(["enabled", "disabled"]), help="The new state.")
@click.pass_obj
def users_modify(
    target: Target, user_ids: tuple[str, ...], role_id: str | None, state: UserState | None
) -> None:
    """Change the role and/or state of users (IDs as arguments or on stdin), in bulk."""
    if role_id is None and state is None:
        raise UsageFailure("give --role-id, --state or both")
    ids = _ids_from(user_ids, check_uuid, "user ID")

    async def work(session: c1iam.Session) -> list[c1iam.BulkResult[str, Any]]:
        return await session.bulk(
            lambda user_id: session.users.modify(user_id, role_id=role_id, state=state), ids
        )

    _report_bulk(run(target, work))


@users.command("delete")
@click.argument("user_ids", nargs=-1)
@click.pass_obj
def users_delete(target: Target, user_ids: tuple[str, ...]) -> None:
    """Remove users from the account (IDs as arguments or on stdin), in bulk."""
    ids = _ids_from(user_ids, check_uuid, "user ID")

    async def work(session: c1iam.Session) -> list[c1iam.BulkResult[str, Any]]:
        return await session.bulk(session.users.delete, ids)

    _report_bulk(run(target, work))


@cli.group()
def roles() -> None:
    """Workload Security / Deep Security administrator roles."""


@roles.command("list")
@_format_option()
@click.pass_obj
def roles_list(target: Target, output_format: str | None) -> None:
    """List every administrator role."""

    async def work(session: c1iam.Session) -> None:
        await write_records(await session.administrator_roles.list(), output_format, kind="role")

    run(target, work)


@roles.command("search")
@click.option("--name", help="Name pattern: % matches any run, _ one character.")
@click.option("--max-items", type=click.IntRange(min=1), help="Stop after this many.")
@_format_option()
@click.pass_obj
def roles_search(
    target: Target, name: str | None, max_items: int | None, output_format: str | None
) -> None:
    """Search administrator roles (streamed, in ID order)."""
    criteria = [] if name is None else [c1iam.Criterion.string("name", name)]

    async def work(session: c1iam.Session) -> None:
        stream = session.administrator_roles.search(*criteria, max_items=max_items)
        await write_records(stream, output_format, kind="role")

    run(target, work)


@roles.command("describe")
@click.argument("role_id")
@_format_option()
@click.pass_obj
def roles_describe(target: Target, role_id: str, output_format: str | None) -> None:
    """Show one administrator role."""
    (checked,) = _ids_from([role_id], check_int32_id, "role ID")

    async def work(session: c1iam.Session) -> None:
        role = await session.administrator_roles.describe(int(checked))
        await write_records([role], output_format, kind="role")

    run(target, work)


@roles.command("delete")
@click.argument("role_id")
@click.pass_obj
def roles_delete(target: Target, role_id: str) -> None:
    """Delete an administrator role."""
    (checked,) = _ids_from([role_id], check_int32_id, "role ID")

    async def work(session: c1iam.Session) -> None:
        await session.administrator_roles.delete(int(checked))

    run(target, work)
    click.echo(f"{checked} ok")


@cli.command("fake-server")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--users", "user_count", type=click.IntRange(min=0), default=1000, show_default=True)
@click.option("--roles", "role_count", type=click.IntRange(min=0), default=50, show_default=True)
@click.option(
    "--api-keys", "api_key_count", type=click.IntRange(min=0), default=50, show_default=True
)
@click.option(
    "--invitations", "invitation_count", type=click.IntRange(min=0), default=5, show_default=True
)
@click.option("--seed", type=int, default=0, show_default=True)
def fake_server(
    host: str,
    port: int,
    user_count: int,
    role_count: int,
    api_key_count: int,
    invitation_count: int,
    seed: int,
) -> None:
    """Serve the embedded fake of both APIs until Ctrl-C (for developing other tools)."""

    async def serve() -> None:
        async with FakeCloudOne(
            users=user_count,
            roles=role_count,
            api_keys=api_key_count,
            invitations=invitation_count,
            seed=seed,
            host=host,
            port=port,
        ) as fake:
            click.echo(f"accounts_url: {fake.accounts_url}")
            click.echo(f"workload_url: {fake.workload_url}")
            click.echo(f"api key:      {fake.api_key}  (a fake key, for this fake only)")
            click.echo("Ctrl-C to stop.")
            await asyncio.Event().wait()
        raise AssertionError("unreachable")

    try:
        asyncio.run(serve())
    except OSError as error:
        raise Failure(f"cannot serve on {host}:{port}: {error.strerror}") from None
