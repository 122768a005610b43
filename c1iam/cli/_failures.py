"""Errors as one line a person can act on: the cause first, then the host, then details.

Nothing here shows a traceback, and everything that came from a server is escaped
(`printable`): a message cannot colour the terminal or forge a second line.
"""

from __future__ import annotations

from typing import Any, Final

import click

import c1iam

from ._safe import printable

__all__ = ["EXIT_FAILED", "EXIT_USAGE", "Failure", "UsageFailure", "explain"]

EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2


class Failure(click.ClickException):
    """A failure reported by the services or the network: one line on stderr, exit 1."""

    exit_code = EXIT_FAILED

    def show(self, file: Any = None) -> None:
        click.echo(f"c1iam: error: {printable(self.format_message())}", err=True)


class UsageFailure(Failure):
    """A usage or configuration error: one line on stderr, exit 2."""

    exit_code = EXIT_USAGE


def explain(error: c1iam.C1IAMError, host: str | None) -> str:
    """One line for an error of a service or the network, naming `host` when known."""
    at = f" at {host}" if host else ""
    detail = printable(str(error))
    if isinstance(error, c1iam.Unauthorized):
        cause = f"the API key was refused{at} (401): it is wrong or revoked, or not a key "
        cause += "for this service or region"
    elif isinstance(error, c1iam.Forbidden):
        cause = f"access denied{at} (403): the API key's role does not allow this"
    elif isinstance(error, c1iam.TransportError):
        cause = f"cannot reach {host or 'the service'}"
    elif isinstance(error, c1iam.RateLimited):
        cause = f"rate-limited{at} until the retry budget ran out"
    elif isinstance(error, c1iam.ServerError):
        cause = f"the service failed{at}"
    elif isinstance(error, c1iam.ProtocolError):
        cause = f"an answer that cannot be understood{at}"
    elif isinstance(error, c1iam.APIError):
        cause = f"the request was refused{at}"
    else:
        cause = f"failed{at}"
    return f"{cause}: {detail}"
