"""The `c1iam` command: click for arguments, rich for tables and progress.

`c1iam.testing` (the fake) is imported only by `--demo` and `fake-server`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import attrs
import click

import c1iam
from c1iam._arguments import (
    check_account_id,
    check_identifier,
    check_int32_id,
    check_role_id,
    check_uuid,
)

from ._failures import EXIT_FAILED, EXIT_USAGE, Failure, UsageFailure, explain

__all__ = [
    "EXIT_FAILED",
    "EXIT_FINDINGS",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "Failure",
    "Target",
    "UsageFailure",
    "cli",
    "format_option",
    "run",
]

T = TypeVar("T")

EXIT_FINDINGS: Final = 3
EXIT_INTERRUPTED: Final = 130

# The demo account: big enough to page, throttled enough to show the limiter at work.
DEMO_USERS: Final = 3000
DEMO_API_KEYS: Final = 150
DEMO_ROLES: Final = 200
DEMO_INVITATIONS: Final = 12
DEMO_SEED: Final = 7
DEMO_RATE: Final = 20.0


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
    attempts: int | None

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
        if self.attempts is not None:
            options["retry"] = c1iam.RetryPolicy(attempts=self.attempts)
        if self.demo:
            from c1iam.testing import FakeCloudOne, RateLimit

            async with FakeCloudOne(
                users=DEMO_USERS,
                api_keys=DEMO_API_KEYS,
                roles=DEMO_ROLES,
                invitations=DEMO_INVITATIONS,
                seed=DEMO_SEED,
            ) as fake:
                fake.rate_limit = RateLimit(rate=DEMO_RATE, burst=10)
                click.echo(
                    f"demo: a fake account with {DEMO_USERS} users, {DEMO_API_KEYS} API keys, "
                    f"{DEMO_INVITATIONS} invitations and {DEMO_ROLES} administrator roles, "
                    f"limited to {DEMO_RATE:g} requests/s, at {fake.accounts_url}",
                    err=True,
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


def _first_library_error(group: BaseExceptionGroup[Any]) -> BaseException:
    """The error to report from a group: a library error if there is one."""
    leaves: list[BaseException] = []

    def walk(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)
        else:
            leaves.append(error)

    walk(group)
    for leaf in leaves:
        if isinstance(leaf, KeyboardInterrupt | BrokenPipeError):
            return leaf
    return next((leaf for leaf in leaves if isinstance(leaf, c1iam.C1IAMError)), leaves[0])


def run(target: Target, work: Callable[[c1iam.Session], Awaitable[T]], *, api: str) -> T:
    """Run `work` with a session to `api` ("accounts" or "workload"); errors become one
    line and an exit code, never a traceback."""
    hosts: dict[str, str] = {}

    async def main() -> T:
        async with target.session() as session:
            hosts[api] = urlsplit(
                session.accounts_url if api == "accounts" else session.workload_url
            ).netloc
            return await work(session)

    try:
        try:
            return asyncio.run(main())
        except BaseExceptionGroup as group:
            raise _first_library_error(group) from None
    except c1iam.InvalidArgument as error:
        raise UsageFailure(usage_message(error)) from None
    except c1iam.C1IAMError as error:
        raise Failure(explain(error, hosts.get(api))) from None
    except BrokenPipeError:
        raise
    except OSError as error:  # writing the output
        raise Failure(f"{error.strerror}: {error.filename}") from None


def format_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The `--format` option of every command that prints records."""
    from ._output import FORMATS

    return click.option(
        "--format",
        "output_format",
        type=click.Choice(FORMATS),
        help="Output format (default: table on a terminal, else jsonl).",
    )


EPILOG: Final = """\b
Environment:
  C1IAM_API_KEY        the API key (or --api-key-file; never on the command line)
  C1IAM_REGION         the Cloud One region (--region), default us-1
  C1IAM_ACCOUNTS_URL   the IAM base URL (--accounts-url)
  C1IAM_WORKLOAD_URL   the Workload Security / Deep Security Manager URL (--workload-url)

\b
Exit codes:
  0    done
  1    an error of a service or the network (one line on stderr)
  2    usage or configuration error
  3    audit findings at or above --fail-on
  130  interrupted
"""


class PipeClosed(click.ClickException):
    """The reader of stdout is gone (`c1iam users list | head -1`): not an error."""

    exit_code = 0

    def __init__(self) -> None:
        super().__init__("broken pipe")

    def show(self, file: Any = None) -> None:
        quiet_stdout()


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush is quiet too."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


class CommandGroup(click.Group):
    """The top group: a broken pipe anywhere ends the command quietly (click itself
    would exit 1)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise PipeClosed() from None


@click.group(
    cls=CommandGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EPILOG,
)
@click.option("--demo", is_flag=True, help="Run against an embedded fake account (no key needed).")
@click.option(
    "--region", envvar="C1IAM_REGION", show_envvar=True, help="Cloud One region (default us-1)."
)
@click.option("--accounts-url", envvar="C1IAM_ACCOUNTS_URL", show_envvar=True, help="IAM base URL.")
@click.option(
    "--workload-url",
    envvar="C1IAM_WORKLOAD_URL",
    show_envvar=True,
    help="Workload Security / Deep Security Manager base URL.",
)
@click.option(
    "--api-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the API key from this file.",
)
@click.option("--legacy-auth", is_flag=True, help="The key is a legacy api-secret-key.")
@click.option("--max-concurrency", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="Requests/s at most.")
@click.option(
    "--attempts",
    type=click.IntRange(min=1),
    help="Tries per request, the first included (default 5; 1: no retries).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every request and retry to stderr.")
@click.version_option(c1iam.__version__, prog_name="c1iam")
@click.pass_context
def cli(context: click.Context, /, verbose: bool, **options: Any) -> None:
    """Audit and manage Cloud One identities: IAM users, API keys, roles, invitations, the
    account, and Workload Security administrator roles."""
    if verbose:
        logging.basicConfig(format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
        logging.getLogger("c1iam").setLevel(logging.DEBUG)
    context.obj = Target(**options)


def _demo_after_subcommand(command: click.Command) -> None:
    """`c1iam audit --demo` works as `c1iam --demo audit` does."""

    def enable(context: click.Context, _: click.Parameter, value: bool) -> None:
        if value:
            context.obj = attrs.evolve(context.obj, demo=True)

    if any(param.name == "demo" for param in command.params):
        return  # installed already
    command.params.append(
        click.Option(
            ["--demo"],
            is_flag=True,
            expose_value=False,
            callback=enable,
            help="Run against an embedded fake account (as `c1iam --demo ...`).",
        )
    )


def install_demo_option(group: click.Group) -> None:
    """Give every command under `group` its own `--demo`."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            install_demo_option(command)
        elif command.name != "fake-server":
            _demo_after_subcommand(command)


# The library's own ID checks (shared with the command): checked before anything is sent.
CHECKS: Final = {
    "user": check_uuid,
    "api_key": check_identifier,
    "role": check_role_id,
    "invitation": check_identifier,
    "admin_role": check_int32_id,
    "account": check_account_id,
}
