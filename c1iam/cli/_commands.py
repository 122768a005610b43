"""The resource commands: one group per resource group of the library, and fake-server.

`roles` are Cloud One roles, as `session.roles` are; Workload Security administrator
roles are `admin-roles`, as `session.administrator_roles` are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import click

import c1iam
from c1iam._arguments import check_ip_networks, check_role_id, check_text
from c1iam.models.users import UserState

from ._app import CHECKS, Failure, Target, UsageFailure, cli, format_option, run
from ._audit import account_of
from ._bulk import confirm, read_ids, run_changes
from ._columns import Kind
from ._output import write_records

__all__ = ["fake_server"]

Change = Callable[[c1iam.Session, str], Awaitable[Any]]


def _input_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--input",
        "source",
        type=click.File("r", encoding="utf-8"),
        help="Read IDs from this file (a CSV with an 'id' column, or one per line; - for "
        "stdin). Without it and without arguments, IDs are read from stdin.",
    )


def _checked_option(option: str, check: Callable[[str, Any], Any], value: Any) -> None:
    """Check an option's value as the library will, before anything is sent: a bad one is
    a usage error (exit 2), not a failure of every ID in turn."""
    if value is not None:
        try:
            check(option, value)
        except ValueError as error:
            raise UsageFailure(str(error)) from None


def _changes(
    target: Target,
    ids: list[str],
    change: Change,
    *,
    verb: str,
    dry_run: bool,
    api: str = "accounts",
) -> None:
    """Apply a change to every ID, one line per ID; exit 1 if any failed."""
    if dry_run:
        for item in ids:
            click.echo(f"{item} would {verb} (dry run)")
        return

    async def work(session: c1iam.Session) -> int:
        return await run_changes(
            session,
            ids,
            lambda item: change(session, item),
            concurrency=target.max_concurrency,
        )

    failed = run(target, work, api=api)
    if failed:
        raise Failure(f"{failed} of {len(ids)} failed")


def _delete_command(
    group: click.Group, kind: Kind, noun: str, delete: Change, *, api: str = "accounts"
) -> None:
    """`<group> delete IDS... [--input F] [--dry-run] [--yes]`."""

    @group.command("delete")
    @click.argument("ids", nargs=-1)
    @_input_option()
    @click.option("--dry-run", is_flag=True, help="Show what would be deleted; send nothing.")
    @click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
    @click.pass_obj
    def delete_command(
        target: Target, ids: tuple[str, ...], source: Any, dry_run: bool, yes: bool
    ) -> None:
        checked = read_ids(ids, source, CHECKS[kind], f"{noun} ID")
        if not (dry_run or yes or confirm(f"Delete {len(checked):,} {noun}s?")):
            raise UsageFailure("nothing deleted")
        _changes(target, checked, delete, verb="be deleted", dry_run=dry_run, api=api)

    delete_command.__doc__ = f"Delete {noun}s (IDs as arguments, in a file or on stdin)."


def _describe_command(
    group: click.Group,
    kind: Kind,
    noun: str,
    describe: Callable[[c1iam.Session, str], Awaitable[Any]],
    *,
    api: str = "accounts",
) -> None:
    """`<group> describe ID`."""

    @group.command("describe")
    @click.argument("item_id")
    @format_option()
    @click.pass_obj
    def describe_command(target: Target, item_id: str, output_format: str | None) -> None:
        (checked,) = read_ids([item_id], None, CHECKS[kind], f"{noun} ID")

        async def work(session: c1iam.Session) -> None:
            await write_records([await describe(session, checked)], output_format, kind=kind)

        run(target, work, api=api)

    describe_command.__doc__ = f"Show one {noun}."


def _list_command(
    group: click.Group,
    kind: Kind,
    noun: str,
    listing: Callable[..., c1iam.Stream[Any]],
    *,
    by_role: bool,
) -> None:
    """`<group> list [--role-id R] [--max-items N] [--format F]`, streamed."""

    @group.command("list")
    @click.option("--max-items", type=click.IntRange(min=1), help="Stop after this many.")
    @format_option()
    @click.pass_obj
    def list_command(
        target: Target, /, max_items: int | None, output_format: str | None, **filters: Any
    ) -> None:
        _checked_option("--role-id", check_role_id, filters.get("role_id"))

        async def work(session: c1iam.Session) -> None:
            stream = listing(session, page_size=100, max_items=max_items, **filters)
            await write_records(stream, output_format, kind=kind)

        run(target, work, api="accounts")

    if by_role:
        click.option("--role-id", help="Only those with this role ID.")(list_command)
    list_command.__doc__ = f"List {noun}s (streamed)."


# -- users ----------------------------------------------------------------------------------


@cli.group()
def users() -> None:
    """Cloud One IAM users."""


_list_command(users, "user", "user", lambda s, **kw: s.users.list(**kw), by_role=True)
_describe_command(users, "user", "user", lambda s, i: s.users.describe(i))
_delete_command(users, "user", "user", lambda s, i: s.users.delete(i))


@users.command("modify")
@click.argument("user_ids", nargs=-1)
@_input_option()
@click.option("--role-id", help="The new role ID.")
@click.option("--state", type=click.Choice(["enabled", "disabled"]), help="The new state.")
@click.option("--dry-run", is_flag=True, help="Show what would change; send nothing.")
@click.pass_obj
def users_modify(
    target: Target,
    user_ids: tuple[str, ...],
    source: Any,
    role_id: str | None,
    state: UserState | None,
    dry_run: bool,
) -> None:
    """Change the role and/or state of users (IDs as arguments, in a file or on stdin)."""
    if role_id is None and state is None:
        raise UsageFailure("give --role-id, --state or both")
    _checked_option("--role-id", check_role_id, role_id)
    ids = read_ids(user_ids, source, CHECKS["user"], "user ID")
    _changes(
        target,
        ids,
        lambda session, item: session.users.modify(item, role_id=role_id, state=state),
        verb="be modified",
        dry_run=dry_run,
    )


# -- API keys -------------------------------------------------------------------------------


@cli.group("api-keys")
def api_keys() -> None:
    """Cloud One API keys (secrets are never shown or written)."""


_list_command(api_keys, "api_key", "API key", lambda s, **kw: s.api_keys.list(**kw), by_role=True)
_describe_command(api_keys, "api_key", "API key", lambda s, i: s.api_keys.describe(i))
_delete_command(api_keys, "api_key", "API key", lambda s, i: s.api_keys.delete(i))


@api_keys.command("modify")
@click.argument("key_ids", nargs=-1)
@_input_option()
@click.option("--role-id", help="The new role ID.")
@click.option("--enable/--disable", "enabled", default=None, help="Enable or disable the keys.")
@click.option(
    "--allowed-cidr",
    "allowed_cidrs",
    multiple=True,
    help="Limit the keys to these address blocks (repeat the option).",
)
@click.option("--dry-run", is_flag=True, help="Show what would change; send nothing.")
@click.pass_obj
def api_keys_modify(
    target: Target,
    key_ids: tuple[str, ...],
    source: Any,
    role_id: str | None,
    enabled: bool | None,
    allowed_cidrs: tuple[str, ...],
    dry_run: bool,
) -> None:
    """Change the role, state or address limits of API keys, in bulk."""
    if role_id is None and enabled is None and not allowed_cidrs:
        raise UsageFailure("give --role-id, --enable/--disable or --allowed-cidr")
    _checked_option("--role-id", check_role_id, role_id)
    _checked_option("--allowed-cidr", check_ip_networks, allowed_cidrs or None)
    ids = read_ids(key_ids, source, CHECKS["api_key"], "API key ID")
    _changes(
        target,
        ids,
        lambda session, item: session.api_keys.modify(
            item, role_id=role_id, enabled=enabled, allowed_cidrs=list(allowed_cidrs) or None
        ),
        verb="be modified",
        dry_run=dry_run,
    )


# -- Cloud One roles --------------------------------------------------------------------------


@cli.group()
def roles() -> None:
    """Cloud One roles (administrator roles of Workload Security: see admin-roles)."""


_list_command(roles, "role", "Cloud One role", lambda s, **kw: s.roles.list(**kw), by_role=False)
_describe_command(roles, "role", "Cloud One role", lambda s, i: s.roles.describe(i))
_delete_command(roles, "role", "Cloud One role", lambda s, i: s.roles.delete(i))


@roles.command("create")
@click.option("--name", required=True, help="The role's name.")
@click.option(
    "--service-role-urn",
    "urns",
    multiple=True,
    required=True,
    help="A service role it grants, e.g. urn:cloudone:workload::role/read-only (repeat).",
)
@click.option("--description", help="What the role is for.")
@format_option()
@click.pass_obj
def roles_create(
    target: Target,
    name: str,
    urns: tuple[str, ...],
    description: str | None,
    output_format: str | None,
) -> None:
    """Create a Cloud One role."""

    async def work(session: c1iam.Session) -> None:
        role = await session.roles.create(
            name=name, service_role_urns=list(urns), description=description
        )
        await write_records([role], output_format, kind="role")

    run(target, work, api="accounts")


@roles.command("search", hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("ignored", nargs=-1, type=click.UNPROCESSED)
def roles_search(ignored: tuple[str, ...]) -> None:
    """Moved: administrator roles are `c1iam admin-roles`."""
    raise UsageFailure(
        "`c1iam roles` now means Cloud One roles; administrator roles are "
        "`c1iam admin-roles` (e.g. c1iam admin-roles search --name 'Audit%')"
    )


# -- invitations ------------------------------------------------------------------------------


@cli.group()
def invitations() -> None:
    """Invitations to join the Cloud One account."""


_list_command(
    invitations, "invitation", "invitation", lambda s, **kw: s.invitations.list(**kw), by_role=False
)
_describe_command(invitations, "invitation", "invitation", lambda s, i: s.invitations.describe(i))
_delete_command(invitations, "invitation", "invitation", lambda s, i: s.invitations.delete(i))


@invitations.command("create")
@click.option("--email", required=True, help="Who to invite.")
@click.option("--role-id", required=True, help="The Cloud One role to grant.")
@format_option()
@click.pass_obj
def invitations_create(target: Target, email: str, role_id: str, output_format: str | None) -> None:
    """Invite someone to the account."""

    async def work(session: c1iam.Session) -> None:
        invitation = await session.invitations.create(email=email, role_id=role_id)
        await write_records([invitation], output_format, kind="invitation")

    run(target, work, api="accounts")


# -- the account ------------------------------------------------------------------------------


async def _account_id(session: c1iam.Session, given: str | None) -> str:
    """The account ID given, else the one the Cloud One roles' URNs name."""
    if given is not None:
        return given
    async for role in session.roles.list(page_size=10, max_items=10):
        found = account_of(role.urn)
        if found is not None:
            return found[0]
    raise UsageFailure("cannot tell the account ID: give it as an argument")


@cli.group()
def accounts() -> None:
    """The Cloud One account."""


@accounts.command("describe")
@click.argument("account_id", required=False)
@format_option()
@click.pass_obj
def accounts_describe(target: Target, account_id: str | None, output_format: str | None) -> None:
    """Show the account (by default the one the key belongs to)."""
    if account_id is not None:
        read_ids([account_id], None, CHECKS["account"], "account ID")

    async def work(session: c1iam.Session) -> None:
        account = await session.accounts.describe(await _account_id(session, account_id))
        await write_records([account], output_format, kind="account")

    run(target, work, api="accounts")


@accounts.command("modify")
@click.argument("account_id", required=False)
@click.option("--alias", help="The account's alias.")
@click.option("--mfa-required/--no-mfa-required", default=None, help="Require MFA of users.")
@format_option()
@click.pass_obj
def accounts_modify(
    target: Target,
    account_id: str | None,
    alias: str | None,
    mfa_required: bool | None,
    output_format: str | None,
) -> None:
    """Change the account (by default the one the key belongs to)."""
    if alias is None and mfa_required is None:
        raise UsageFailure("give --alias, --mfa-required or --no-mfa-required")
    _checked_option("--alias", check_text, alias)  # (before the account's ID is looked up)
    if account_id is not None:
        read_ids([account_id], None, CHECKS["account"], "account ID")

    async def work(session: c1iam.Session) -> None:
        account = await session.accounts.modify(
            await _account_id(session, account_id), alias=alias, mfa_required=mfa_required
        )
        await write_records([account], output_format, kind="account")

    run(target, work, api="accounts")


# -- administrator roles ----------------------------------------------------------------------


@cli.group("admin-roles")
def admin_roles() -> None:
    """Workload Security / Deep Security Manager administrator roles."""


_describe_command(
    admin_roles,
    "admin_role",
    "administrator role",
    lambda s, i: s.administrator_roles.describe(int(i)),
    api="workload",
)
_delete_command(
    admin_roles,
    "admin_role",
    "administrator role",
    lambda s, i: s.administrator_roles.delete(int(i)),
    api="workload",
)


@admin_roles.command("list")
@format_option()
@click.pass_obj
def admin_roles_list(target: Target, output_format: str | None) -> None:
    """List every administrator role."""

    async def work(session: c1iam.Session) -> None:
        listed = await session.administrator_roles.list()
        await write_records(listed, output_format, kind="admin_role")

    run(target, work, api="workload")


@admin_roles.command("search")
@click.option("--name", help="Name pattern: % matches any run, _ one character.")
@click.option("--max-items", type=click.IntRange(min=1), help="Stop after this many.")
@format_option()
@click.pass_obj
def admin_roles_search(
    target: Target, name: str | None, max_items: int | None, output_format: str | None
) -> None:
    """Search administrator roles (streamed, in ID order)."""
    criteria = [] if name is None else [c1iam.Criterion.string("name", name)]

    async def work(session: c1iam.Session) -> None:
        stream = session.administrator_roles.search(*criteria, max_items=max_items)
        await write_records(stream, output_format, kind="admin_role")

    run(target, work, api="workload")


# -- the fake ---------------------------------------------------------------------------------


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
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0, min_open=True),
    help="Refuse over this many requests per second (a token bucket; 429).",
)
@click.option(
    "--burst", type=click.IntRange(min=1), default=5, show_default=True, help="With --rate-limit."
)
@click.option(
    "--sliding-window",
    metavar="CALLS/SECONDS",
    help="Deep Security's limiter: at most CALLS in any SECONDS (e.g. 500/60).",
)
@click.option(
    "--retry-after",
    type=click.Choice(["seconds", "http-date", "none"]),
    default="seconds",
    show_default=True,
    help="How a 429 says when to come back.",
)
@click.option(
    "--unavailable-every",
    type=click.IntRange(min=1),
    help="Answer one request in N with 503 (Retry-After: 1).",
)
@click.option(
    "--maintenance",
    metavar="START:SECONDS",
    multiple=True,
    help="Answer every request with 503 for SECONDS, START seconds after the first request.",
)
def fake_server(
    host: str,
    port: int,
    user_count: int,
    role_count: int,
    api_key_count: int,
    invitation_count: int,
    seed: int,
    rate_limit: float | None,
    burst: int,
    sliding_window: str | None,
    retry_after: Literal["seconds", "http-date", "none"],
    unavailable_every: int | None,
    maintenance: tuple[str, ...],
) -> None:
    """Serve the embedded fake of both APIs until Ctrl-C (for developing other tools).

    It can be limited as the real services are: a token bucket (--rate-limit, --burst),
    Deep Security's sliding window (--sliding-window 500/60), isolated 503s
    (--unavailable-every) and maintenance windows (--maintenance 2:4).
    """
    from c1iam.testing import FakeCloudOne, Outages, RateLimit
    from c1iam.testing._faults import parse_maintenance, parse_sliding_window

    if rate_limit is not None and sliding_window is not None:
        raise UsageFailure("give --rate-limit or --sliding-window, not both")
    try:
        windows = tuple(parse_maintenance(text) for text in maintenance)
        limit: RateLimit | None = None
        if sliding_window is not None:
            calls, seconds = parse_sliding_window(sliding_window)
            limit = RateLimit.sliding_window(calls=calls, seconds=seconds, retry_after=retry_after)
        elif rate_limit is not None:
            limit = RateLimit(rate=rate_limit, burst=burst, retry_after=retry_after)
    except ValueError as error:
        raise UsageFailure(str(error)) from None
    outages = (
        Outages(every=unavailable_every, maintenance=windows)
        if unavailable_every is not None or windows
        else None
    )

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
            fake.rate_limit = limit
            fake.outages = outages
            if limit is not None:
                click.echo(f"rate limit:   {limit.describe()}, Retry-After {retry_after}")
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
