"""Drift: what changed between two audits, from their files alone.

Both sides are read from an audit's directory (its CSVs and findings.json), so an audit
can be compared with one made months ago, on another machine, by another version that
wrote the same schema. A source that one of the two audits could not read is listed in
`not_compared` rather than reported as everything added or removed.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from ._audit import FILES, SOURCES
from ._columns import COLUMNS
from ._findings import PRIVILEGE_RANK, privilege_of, usable_from_anywhere

__all__ = ["CHANGES_SCHEMA_VERSION", "DriftError", "compare", "read_findings"]

CHANGES_SCHEMA_VERSION: Final = 1

# Each kind of object: its file and the column that names it for people.
# The columns an audit writes in each file: an earlier one must have them all to compare.
_COLUMNS_READ: Final = {file_name: frozenset(COLUMNS[kind]) for _, file_name, kind, _ in SOURCES}
_KINDS: Final = {
    "users": (FILES["users"], "email"),
    "api_keys": (FILES["api keys"], "alias"),
    "roles": (FILES["roles"], "name"),
    "invitations": (FILES["invitations"], "email"),
    "admin_roles": (FILES["admin roles"], "name"),
}
# The kind of a finding's object, by the kind of objects (file) it comes from.
_OBJECT_KINDS: Final = {
    "users": "user",
    "api_keys": "api_key",
    "roles": "role",
    "invitations": "invitation",
    "admin_roles": "admin_role",
}
_ROLE_FLAGS: Final = ("all_computers", "all_policies", "allow_user_interface", "allow_web_service")


class DriftError(Exception):
    """The directory to compare with is not an audit that can be read."""


def read_findings(directory: Path) -> dict[str, Any]:
    """An audit's findings.json, checked for a schema this version reads."""
    path = directory / "findings.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DriftError(f"cannot read {path}: {error.strerror}") from None
    except ValueError:
        raise DriftError(f"{path} is not JSON") from None
    if not isinstance(document, dict) or document.get("schema_version") != 1:
        raise DriftError(f"{path} is not a findings.json of schema version 1")
    return document


def _rows(directory: Path, file_name: str) -> dict[str, dict[str, str]] | None:
    path = directory / file_name
    if not path.exists():
        return None
    # (utf-8-sig: a spreadsheet that saved the file put a byte-order mark before "id".)
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        missing = _COLUMNS_READ[file_name] - set(reader.fieldnames or ())
        if missing:
            raise DriftError(f"{path} lacks the column(s) {', '.join(sorted(missing))}")
        return {row["id"]: row for row in reader}


def _ranks(roles: dict[str, dict[str, str]] | None) -> dict[str, int]:
    return {
        role_id: PRIVILEGE_RANK[privilege_of(role_id, tuple(row["service_role_urns"].split()))]
        for role_id, row in (roles or {}).items()
    }


def _rank(role_id: str, ranks: dict[str, int]) -> int:
    return ranks.get(role_id) or PRIVILEGE_RANK[privilege_of(role_id, None)]


def _rights(row: dict[str, str]) -> set[str]:
    """Every right a role grants, as dotted paths, with its access flags."""
    granted = {flag for flag in _ROLE_FLAGS if row.get(flag) == "true"}

    def walk(tree: Any, prefix: str) -> Iterator[str]:
        if isinstance(tree, dict):
            for key, value in tree.items():
                yield from walk(value, f"{prefix}{key}.")
        elif tree is True:
            yield prefix.rstrip(".")

    with contextlib.suppress(ValueError):  # a hand-edited file: judge the flags alone
        granted.update(walk(json.loads(row.get("rights") or "{}"), ""))
    return granted


def _open(row: dict[str, str]) -> bool:
    return usable_from_anywhere(row["allowed_ips"].split(), row["allowed_cidrs"].split())


def _ref(item_id: str, row: dict[str, str], label_column: str) -> dict[str, Any]:
    return {"id": item_id, "label": row.get(label_column) or None}


def _finding_keys(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (finding["id"], str(obj["id"])): {
            "finding": finding["id"],
            "severity": finding["severity"],
            "kind": obj["kind"],
            "id": obj["id"],
            "label": obj.get("label"),
        }
        for finding in document.get("findings", [])
        for obj in finding.get("objects", [])
    }


def compare(previous: Path, current: Path) -> dict[str, Any]:
    """The changes from the audit in `previous` to the audit in `current`."""
    before_doc, after_doc = read_findings(previous), read_findings(current)
    before = {kind: _rows(previous, file_name) for kind, (file_name, _) in _KINDS.items()}
    after = {kind: _rows(current, file_name) for kind, (file_name, _) in _KINDS.items()}
    changes: dict[str, Any] = {
        "schema_version": CHANGES_SCHEMA_VERSION,
        "previous_as_of": before_doc.get("as_of"),
        "as_of": after_doc.get("as_of"),
        "not_compared": [],
        "added": {},
        "removed": {},
        "role_changes": [],
        "state_changes": [],
        "mfa_turned_off": [],
        "ip_limits_lifted": [],
        "admin_role_rights": [],
        "account": [],
    }
    ranks_before, ranks_after = _ranks(before["roles"]), _ranks(after["roles"])
    for kind, (_, label) in _KINDS.items():
        old, new = before[kind], after[kind]
        if old is None or new is None:
            changes["not_compared"].append(kind)
            continue
        changes["added"][kind] = [_ref(i, new[i], label) for i in new if i not in old]
        changes["removed"][kind] = [_ref(i, old[i], label) for i in old if i not in new]
        for item_id in new.keys() & old.keys():
            was, now = old[item_id], new[item_id]
            ref = {"kind": kind, **_ref(item_id, now, label)}
            if kind in ("users", "api_keys"):
                if was["role_id"] != now["role_id"]:
                    up = _rank(now["role_id"], ranks_after) - _rank(was["role_id"], ranks_before)
                    direction = "up" if up > 0 else "down" if up < 0 else "same"
                    changes["role_changes"].append(
                        {
                            **ref,
                            "from": was["role_id"],
                            "to": now["role_id"],
                            "privilege": direction,
                        }
                    )
                state = "state" if kind == "users" else "enabled"
                if was[state] != now[state]:
                    changes["state_changes"].append(
                        {**ref, "field": state, "from": was[state], "to": now[state]}
                    )
            if kind == "users" and was["mfa_enabled"] == "true" and now["mfa_enabled"] != "true":
                changes["mfa_turned_off"].append(ref)
            if kind == "api_keys" and _open(now) and not _open(was):
                changes["ip_limits_lifted"].append(ref)
            if kind == "admin_roles":
                gained, lost = _rights(now) - _rights(was), _rights(was) - _rights(now)
                if gained or lost:
                    changes["admin_role_rights"].append(
                        {
                            **ref,
                            "privilege": "up" if gained else "down",
                            "gained": sorted(gained),
                            "lost": sorted(lost),
                        }
                    )
    was_required = (before_doc.get("account") or {}).get("mfa_required")
    now_required = (after_doc.get("account") or {}).get("mfa_required")
    if was_required is True and now_required is False:
        changes["account"].append({"change": "mfa_required turned off"})
    elif was_required is False and now_required is True:
        changes["account"].append({"change": "mfa_required turned on"})
    # A finding about a source one side could not read is neither new nor resolved.
    skipped = {_OBJECT_KINDS[kind] for kind in changes["not_compared"]}
    if before_doc.get("account") is None or after_doc.get("account") is None:
        skipped.add("account")
    old_findings, new_findings = (
        {key: value for key, value in _finding_keys(doc).items() if value["kind"] not in skipped}
        for doc in (before_doc, after_doc)
    )
    changes["new_findings"] = [v for k, v in new_findings.items() if k not in old_findings]
    changes["resolved_findings"] = [v for k, v in old_findings.items() if k not in new_findings]
    return changes
