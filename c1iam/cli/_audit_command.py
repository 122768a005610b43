"""`c1iam audit`: the audit, its reports, drift and the exit code a CI job acts on."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

import c1iam

from ._app import EXIT_FINDINGS, Failure, Target, UsageFailure, cli, run
from ._audit import SOURCES, AuditResult, atomic_file, check_writable, run_audit, write_json
from ._drift import DriftError, compare, read_findings
from ._findings import SEVERITIES, severity_at_least
from ._output import StdoutConsole
from ._report import CHANGE_LABELS, COUNT_LABELS, account_line, render_report
from ._safe import printable

__all__ = ["audit"]


class FindingsFound(Failure):
    """Findings at or above `--fail-on`: exit 3."""

    exit_code = EXIT_FINDINGS

    def show(self, file: Any = None) -> None:
        click.echo(f"c1iam: {self.format_message()}", err=True)


def _summary(result: AuditResult, changes: dict[str, Any] | None, out: Path) -> None:
    """What a person reads on the terminal: whose account, when, what was found."""
    document = result.document
    console = StdoutConsole(highlight=False, soft_wrap=True)
    console.print(
        Text(
            f"c1iam audit of account {printable(account_line(document))}, region "
            f"{printable(str(document['region']))}, as of {document['as_of']}"
        )
    )
    counts = document["counts"]
    console.print(
        ", ".join(
            f"{'not read' if counts.get(key) is None else f'{counts[key]:,}'} {label}"
            for key, label in COUNT_LABELS.items()
        ),
        markup=False,
    )
    table = Table(title_justify="left")
    table.add_column("severity")
    table.add_column("finding")
    table.add_column("count", justify="right")
    for finding in document["findings"]:
        table.add_row(finding["severity"], finding["id"], f"{finding['count']:,}")
    if not document["findings"]:
        table.add_row("", "no findings", "0")
    console.print(table)
    for entry in document["unreadable"]:
        console.print(Text(f"not read: {entry['source']}: {entry['error']}"))
    if changes is not None:
        parts = [
            f"{len(changes['added'].get(k, []))} {label} added, "
            f"{len(changes['removed'].get(k, []))} removed"
            for k, label in COUNT_LABELS.items()
            if changes["added"].get(k) or changes["removed"].get(k)
        ]
        parts += [
            f"{len(changes[key])} {label}" for key, label in CHANGE_LABELS.items() if changes[key]
        ]
        console.print(
            Text(f"since {changes['previous_as_of']}: " + ("; ".join(parts) or "no changes"))
        )
    console.print(Text(f"report: {out / 'report.md'}"))


@cli.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for users.csv, api_keys.csv, cloud_one_roles.csv, invitations.csv, "
    "roles.csv (administrator roles), findings.json, report.md and changes.json.",
)
@click.option("--inactive-days", type=click.IntRange(min=1), default=90, show_default=True)
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"]),
    help="Judge inactivity and expiry as of this time (default: now).",
)
@click.option(
    "--compare",
    "previous",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="An earlier audit's --out: write changes.json and a drift section.",
)
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITIES),
    help="Exit 3 when a finding of this severity or worse exists.",
)
@click.pass_obj
def audit(
    target: Target,
    out: Path,
    inactive_days: int,
    as_of: datetime | None,
    previous: Path | None,
    fail_on: str | None,
) -> None:
    """Audit the account: stream every user, API key, role, invitation and administrator
    role; write CSVs, findings.json and report.md; print a summary.

    Exit codes: 0 done, 1 an API could not be read (what could be read is still
    written), 2 usage, 3 findings at or above --fail-on, 130 interrupted."""
    try:
        check_writable(out)
    except OSError as error:
        raise UsageFailure(f"cannot write to --out {out}: {error.strerror}") from None
    if previous is not None:
        if previous.resolve() == out.resolve():
            raise UsageFailure("--compare must name an earlier audit, not --out")
        try:
            read_findings(previous)
        except DriftError as error:
            raise UsageFailure(f"--compare: {error}") from None
    moment = datetime.now(UTC) if as_of is None else as_of
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.replace(microsecond=0)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=None),
        TextColumn("{task.completed:,} [dim]{task.fields[rate]}[/dim]"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not sys.stderr.isatty(),
        transient=True,
    )

    async def work(session: c1iam.Session) -> AuditResult:
        tasks = {name: progress.add_task(name, total=None, rate="") for name, *_ in SOURCES}

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

    result = run(target, work, api="accounts")
    # The new files are in place: an earlier audit's report and changes no longer
    # describe them. Gone before anything else can fail or be interrupted, so that no
    # stale report stands beside the new files.
    for stale in ("report.md", "changes.json"):
        (out / stale).unlink(missing_ok=True)
    changes = None
    if previous is not None:
        try:
            changes = compare(previous, out)
        except DriftError as error:
            raise Failure(f"--compare: {error}") from None
        write_json(out / "changes.json", changes)
    with atomic_file(out / "report.md") as file:
        file.write(render_report(result.document, changes))
    _summary(result, changes, out)
    unreadable = result.document["unreadable"]
    if unreadable:
        sources = ", ".join(entry["source"] for entry in unreadable)
        raise Failure(f"{unreadable[0]['error']} (not read: {sources}; the rest is written)")
    if fail_on is not None:
        worst = [
            f for f in result.document["findings"] if severity_at_least(f["severity"], fail_on)
        ]
        if worst:
            count = sum(f["count"] for f in worst)
            raise FindingsFound(f"{count:,} findings at or above {fail_on} (--fail-on {fail_on})")
