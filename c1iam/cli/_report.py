"""report.md: the audit for people, in Markdown (plain text in a terminal, rendered by a
browser-based viewer), built from findings.json's document and the drift's changes."""

from __future__ import annotations

import re
from typing import Any, Final

from ._findings import SEVERITIES
from ._safe import printable

__all__ = ["CHANGE_LABELS", "COUNT_LABELS", "render_report"]

# How many objects a finding lists in the report; findings.json always has them all.
SHOWN: Final = 50
COUNT_LABELS: Final = {
    "users": "users",
    "api_keys": "API keys",
    "roles": "Cloud One roles",
    "invitations": "invitations",
    "admin_roles": "administrator roles",
}
CHANGE_LABELS: Final = {
    "role_changes": "role changes",
    "state_changes": "state changes",
    "mfa_turned_off": "MFA turned off",
    "ip_limits_lifted": "API keys whose address limits were lifted",
    "admin_role_rights": "administrator roles whose rights changed",
    "account": "account changes",
    "new_findings": "new findings",
    "resolved_findings": "resolved findings",
}
_MARKDOWN: Final = re.compile(r"([\\`*_\[\]<>|#])")


def md(value: Any) -> str:
    """Server text as inert Markdown: control characters and markup escaped."""
    return _MARKDOWN.sub(r"\\\1", printable("" if value is None else str(value)))


def account_line(document: dict[str, Any]) -> str:
    """ "123456789012 (Demo account)", or what is known of the account."""
    account = document.get("account")
    if account is None:
        return "unknown (the account could not be read)"
    alias = f" ({account['alias']})" if account.get("alias") else ""
    return f"{account['id']}{alias}"


def _changes(changes: dict[str, Any]) -> list[str]:
    lines = [f"## Changes since the audit of {md(changes.get('previous_as_of'))}", ""]
    if changes["not_compared"]:
        lines += [
            f"Not compared (unreadable in one audit): {', '.join(changes['not_compared'])}.",
            "",
        ]
    for kind, label in COUNT_LABELS.items():
        added, removed = changes["added"].get(kind, []), changes["removed"].get(kind, [])
        if added or removed:
            lines.append(f"- {label}: {len(added)} added, {len(removed)} removed")
            lines += [f"  - added `{md(r['id'])}` {md(r['label'])}" for r in added[:SHOWN]]
            lines += [f"  - removed `{md(r['id'])}` {md(r['label'])}" for r in removed[:SHOWN]]
    for key, label in CHANGE_LABELS.items():
        entries = changes[key]
        if not entries:
            continue
        lines.append(f"- {label}: {len(entries)}")
        for entry in entries[:SHOWN]:
            details = ", ".join(
                f"{name} {md(value if not isinstance(value, list) else ' '.join(value))}"
                for name, value in entry.items()
                if name not in ("id", "label", "kind") and value not in (None, [])
            )
            who = f"`{md(entry['id'])}` {md(entry.get('label'))} " if "id" in entry else ""
            lines.append(f"  - {who}{details}")
    if len(lines) == 2:
        lines.append("No changes.")
    return [*lines, ""]


def render_report(document: dict[str, Any], changes: dict[str, Any] | None) -> str:
    """The report's Markdown text."""
    counts = document["counts"]
    lines = [
        "# c1iam identity audit",
        "",
        f"- Account: {md(account_line(document))}",
        f"- Region: {md(document['region'])}",
        f"- As of: {document['as_of']}",
        f"- Inactivity period: {document['inactive_days']} days",
        f"- Complete: {'yes' if document['complete'] else 'no, see below'}",
        "",
    ]
    if document["unreadable"]:
        lines += ["## Could not be read", ""]
        lines += [
            f"- **{md(entry['source'])}** ({md(entry['host'])}): {md(entry['error'])}"
            for entry in document["unreadable"]
        ]
        lines.append("")
    lines += ["## Counts", "", "| objects | count |", "|---|---:|"]
    for key, label in COUNT_LABELS.items():
        value = counts.get(key)
        lines.append(f"| {label} | {'not read' if value is None else f'{value:,}'} |")
    lines += ["", "## Findings", "", "| severity | finding | objects |", "|---|---|---:|"]
    for finding in document["findings"]:
        lines.append(f"| {finding['severity']} | `{finding['id']}` | {finding['count']:,} |")
    if not document["findings"]:
        lines.append("| | none | 0 |")
    lines.append("")
    for severity in SEVERITIES:
        found = [f for f in document["findings"] if f["severity"] == severity]
        if not found:
            continue
        lines += [f"### {severity.capitalize()}", ""]
        for finding in found:
            lines += [
                f"#### `{finding['id']}`: {finding['count']:,}",
                "",
                finding["reason"],
                "",
                f"Remediation: {finding['remediation']}",
                "",
            ]
            lines += [
                f"- `{md(obj['id'])}` {md(obj['label'])}: {md(obj['detail'])}"
                for obj in finding["objects"][:SHOWN]
            ]
            if finding["count"] > SHOWN:
                lines.append(f"- ... and {finding['count'] - SHOWN:,} more in findings.json")
            lines.append("")
    if changes is not None:
        lines += _changes(changes)
    return "\n".join(lines)
