"""`c1iam audit`: findings, drift, --fail-on and partial access, against the fake.

The command runs in-process (click's runner, in a worker thread, while the fake serves
on the test's event loop): the same code as the entry point, without an interpreter start.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from click.testing import CliRunner

from c1iam.cli import _app, _audit_command
from c1iam.cli._findings import RULES
from c1iam.cli._main import cli
from c1iam.testing import FakeCloudOne, Fault

pytestmark = pytest.mark.anyio

NOW = datetime.now(UTC).replace(microsecond=0)


@attrs.frozen
class Ran:
    """A finished in-process run of the command."""

    code: int
    stdout: str
    stderr: str


def env_for(fake: FakeCloudOne, **extra: str) -> dict[str, str]:
    return {
        "C1IAM_API_KEY": fake.api_key,
        "C1IAM_ACCOUNTS_URL": fake.accounts_url,
        "C1IAM_WORKLOAD_URL": fake.workload_url,
        "C1IAM_REGION": "us-1",
    } | extra


async def invoke(*arguments: str, env: Mapping[str, str | None], stdin: str | None = None) -> Ran:
    def call() -> Ran:
        result = CliRunner().invoke(cli, list(arguments), env=env, input=stdin)
        return Ran(result.exit_code, result.stdout, result.stderr)

    return await anyio.to_thread.run_sync(call)


async def audit(fake: FakeCloudOne, out: Path, *extra: str, **env: str) -> Ran:
    return await invoke(
        "--attempts", "1", "audit", "--out", str(out), "--as-of", NOW.isoformat(), *extra,
        env=env_for(fake, **env),
    )  # fmt: skip


def found(out: Path) -> dict[str, set[Any]]:
    document = json.loads((out / "findings.json").read_text())
    assert document["schema_version"] == 1
    return {f["id"]: {o["id"] for o in f["objects"]} for f in document["findings"]}


def stamp(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@pytest.fixture
async def demo() -> AsyncIterator[FakeCloudOne]:
    """The demo's account, without the demo's rate limit."""
    async with FakeCloudOne(
        users=_app.DEMO_USERS,
        api_keys=_app.DEMO_API_KEYS,
        roles=_app.DEMO_ROLES,
        invitations=_app.DEMO_INVITATIONS,
        seed=_app.DEMO_SEED,
    ) as fake:
        yield fake


async def test_every_finding_fires_on_the_demo_account(demo: FakeCloudOne, tmp_path: Path) -> None:
    ran = await audit(demo, tmp_path / "out")
    assert ran.code == 0, ran.stderr
    findings = found(tmp_path / "out")
    assert set(findings) == set(RULES)
    # A few, recomputed from the fake's own data.
    enabled = [u for u in demo.users.values() if u["state"] == "enabled"]
    assert findings["user-full-access-without-mfa"] == {
        u["id"] for u in enabled if u["roleID"] == "full-access" and not u["mfaEnabled"]
    }
    assert findings["user-disabled"] == {
        u["id"] for u in demo.users.values() if u["state"] == "disabled"
    }
    assert findings["api-key-full-access-any-address"] == {
        k["id"]
        for k in demo.api_keys.values()
        if k["enabled"]
        and k["roleID"] == "full-access"
        and ((not k["allowedIPs"] and not k["allowedCIDRs"]) or "0.0.0.0/0" in k["allowedCIDRs"])
    }
    since = NOW - timedelta(days=90)
    assert findings["user-inactive-write-role"] == {
        u["id"]
        for u in enabled
        if u["roleID"] not in ("read-only", "auditor")
        and (stamp(u["lastActivity"]) or stamp(u["created"])) < since  # type: ignore[operator]
    }
    assert findings["invitation-expired"] == {
        i["id"]
        for i in demo.invitations.values()
        if stamp(i["expiry"]) <= NOW  # type: ignore[operator]
    }
    disabled_users = findings["user-disabled"]
    for rule in ("user-full-access-without-mfa", "user-inactive-write-role"):
        assert not findings[rule] & disabled_users  # disabled users are no active risk
    assert findings["admin-role-manages-access-via-api"] == {
        r["ID"]
        for r in demo.roles.values()
        if r["allowWebService"]
        and any(
            r["rights"].get("platformRights", {}).get(member, {}).get(leaf)
            for member, leaf in [
                ("administratorRights", "canCreateNewAdministrators"),
                ("administratorRights", "canEditAdministratorProperties"),
                ("administratorRights", "canDeleteAdministrators"),
                ("administratorRoleRights", "canCreateNewAdministratorRoles"),
                ("administratorRoleRights", "canEditAdministratorRoleProperties"),
                ("administratorRoleRights", "canDeleteAdministratorRoles"),
                ("apikeyRights", "canCreateNewApiKeys"),
                ("apikeyRights", "canEditApiKeyProperties"),
                ("apikeyRights", "canDeleteApiKeys"),
            ]
        )
    }
    report = (tmp_path / "out" / "report.md").read_text()
    assert "123456789012" in report
    for rule in RULES:
        assert rule in report
    assert "123456789012 (Demo account)" in ran.stdout
    assert NOW.isoformat().replace("+00:00", "Z") in ran.stdout


def clean(fake: FakeCloudOne) -> None:
    """Make the fake's account one with nothing to report."""
    recent = (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for role in ("full-access", "read-only", "developer"):
        fake.add_user(roleID=role, mfaEnabled=True, lastActivity=recent)
    key = fake.api_keys.new(roleID="full-access", allowedCIDRs=["198.51.100.0/24"])
    fake.api_keys[key["id"]] = key | {"lastActivity": recent}
    fake.add_role(name="Operators", allowWebService=True, rights={})
    fake.accounts["123456789012"]["mfaRequired"] = True


async def test_a_clean_account_has_no_findings(tmp_path: Path) -> None:
    async with FakeCloudOne() as fake:
        clean(fake)
        ran = await audit(fake, tmp_path / "out", "--fail-on", "low")
        assert ran.code == 0, ran.stderr
        assert found(tmp_path / "out") == {}
        assert "no findings" in ran.stdout


async def test_fail_on_exits_3_at_or_above_the_severity(tmp_path: Path) -> None:
    async with FakeCloudOne() as fake:
        clean(fake)
        fake.add_user(state="disabled")  # low
        codes = {}
        for severity in ("low", "medium", "high"):
            ran = await audit(fake, tmp_path / severity, "--fail-on", severity)
            codes[severity] = ran.code
        assert codes == {"low": 3, "medium": 0, "high": 0}
        fake.accounts["123456789012"]["mfaRequired"] = False  # high
        ran = await audit(fake, tmp_path / "again", "--fail-on", "high")
        assert ran.code == 3
        assert "--fail-on high" in ran.stderr
        assert ran.stderr.count("\n") == 1


async def test_drift_finds_each_kind_of_change(tmp_path: Path) -> None:
    async with FakeCloudOne(users=30, api_keys=20, roles=6, invitations=4, seed=5) as fake:
        first = await audit(fake, tmp_path / "before")
        assert first.code == 0, first.stderr
        users = list(fake.users.values())
        removed = users[0]["id"]
        del fake.users[removed]
        added = fake.add_user(roleID="read-only", mfaEnabled=True)["id"]
        reader = next(u for u in users[1:] if u["roleID"] == "read-only")
        reader["roleID"] = "full-access"
        admin = next(u for u in users[1:] if u["roleID"] in ("full-access", "workload-admin"))
        admin["roleID"] = "read-only"
        with_mfa = next(u for u in users[1:] if u["mfaEnabled"] and u is not reader)
        with_mfa["mfaEnabled"] = False
        switched = next(u for u in users[1:] if u not in (reader, admin, with_mfa))
        switched["state"] = "disabled" if switched["state"] == "enabled" else "enabled"
        limited = next(k for k in fake.api_keys.values() if k["allowedIPs"])
        limited["allowedIPs"], limited["allowedCIDRs"] = [], []
        role = fake.roles[3]
        role["rights"] = {"platformRights": {"apikeyRights": {"canCreateNewApiKeys": True}}}
        fake.accounts["123456789012"]["mfaRequired"] = True
        second = await audit(fake, tmp_path / "after", "--compare", str(tmp_path / "before"))
        assert second.code == 0, second.stderr
    changes = json.loads((tmp_path / "after" / "changes.json").read_text())
    assert [r["id"] for r in changes["added"]["users"]] == [added]
    assert [r["id"] for r in changes["removed"]["users"]] == [removed]
    directions = {c["id"]: c["privilege"] for c in changes["role_changes"]}
    assert directions == {reader["id"]: "up", admin["id"]: "down"}
    assert [r["id"] for r in changes["mfa_turned_off"]] == [with_mfa["id"]]
    assert [(r["id"], r["to"]) for r in changes["state_changes"]] == [
        (switched["id"], switched["state"])
    ]
    assert [r["id"] for r in changes["ip_limits_lifted"]] == [limited["id"]]
    assert [(r["id"], r["privilege"]) for r in changes["admin_role_rights"]] == [("3", "up")]
    assert changes["account"] == [{"change": "mfa_required turned on"}]
    new = {(f["finding"], f["id"]) for f in changes["new_findings"]}
    resolved = {(f["finding"], f["id"]) for f in changes["resolved_findings"]}
    assert ("account-mfa-not-required", "123456789012") in resolved
    assert new & resolved == set()
    if with_mfa["state"] == "enabled" and with_mfa["roleID"] == "full-access":
        assert ("user-full-access-without-mfa", with_mfa["id"]) in new
    assert "Changes since" in (tmp_path / "after" / "report.md").read_text()
    assert "since" in second.stdout


async def test_workload_unreachable_writes_the_iam_part_and_exits_1(tmp_path: Path) -> None:
    async with FakeCloudOne(users=5, api_keys=3, roles=2, seed=2) as fake:
        ran = await audit(fake, tmp_path / "out", C1IAM_WORKLOAD_URL="http://127.0.0.1:9/api")
    assert ran.code == 1
    assert ran.stderr.count("\n") == 1
    assert ran.stderr.startswith("c1iam: error: cannot reach 127.0.0.1:9")
    out = tmp_path / "out"
    assert (out / "users.csv").exists()
    assert (out / "api_keys.csv").exists()
    assert not (out / "roles.csv").exists()
    document = json.loads((out / "findings.json").read_text())
    assert document["complete"] is False
    assert [u["source"] for u in document["unreadable"]] == ["admin roles"]
    assert document["counts"]["users"] == 5
    assert "Could not be read" in (out / "report.md").read_text()
    assert "not read: admin roles" in ran.stdout


async def test_no_workload_access_is_a_401_named_with_its_host(tmp_path: Path) -> None:
    async with (
        FakeCloudOne(users=4, roles=2, seed=2) as fake,
        FakeCloudOne(roles=2, seed=9) as other,
    ):
        ran = await audit(fake, tmp_path / "out", C1IAM_WORKLOAD_URL=other.workload_url)
    assert ran.code == 1
    assert ran.stderr.count("\n") == 1
    host = other.workload_url.split("/")[2]
    assert ran.stderr.startswith(f"c1iam: error: the API key was refused at {host} (401)")
    assert (tmp_path / "out" / "users.csv").exists()


async def test_a_wrong_key_is_one_line_and_exit_1(tmp_path: Path) -> None:
    async with FakeCloudOne(users=4, seed=2) as fake:
        ran = await audit(fake, tmp_path / "out", C1IAM_API_KEY="wrong:key")
    assert ran.code == 1
    assert ran.stderr.count("\n") == 1
    assert "(401)" in ran.stderr
    assert "Traceback" not in ran.stderr


async def test_a_server_message_cannot_forge_a_line(tmp_path: Path) -> None:
    async with FakeCloudOne(users=4, seed=2) as fake:
        fake.inject(
            Fault.status(404, body={"message": "gone\nc1iam: error: \x1b[31mforged"}, path="/users")
        )
        ran = await invoke("users", "list", env=env_for(fake))
    assert ran.code == 1
    assert ran.stderr.count("\n") == 1
    assert "\x1b" not in ran.stderr
    assert "\\x0ac1iam: error: \\x1b[31mforged" in ran.stderr


async def test_out_that_cannot_be_written_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    async with FakeCloudOne() as fake:
        ran = await audit(fake, blocker / "out")
    assert ran.code == 2
    assert "--out" in ran.stderr
    assert ".partial" not in ran.stderr
    assert fake.requests == []


async def test_demo_after_the_subcommand(tmp_path: Path) -> None:
    ran = await invoke("users", "list", "--max-items", "3", "--format", "jsonl", "--demo", env={})
    assert ran.code == 0, ran.stderr
    assert len(ran.stdout.splitlines()) == 3


def _report_as_of(out: Path) -> str:
    for line in (out / "report.md").read_text().splitlines():
        if line.startswith("- As of: "):
            return line.removeprefix("- As of: ")
    raise AssertionError("report.md has no 'As of' line")


async def test_compare_reads_an_earlier_csv_a_spreadsheet_saved(tmp_path: Path) -> None:
    # Saved by a spreadsheet: UTF-8 with a byte-order mark before "id".
    async with FakeCloudOne(users=5) as fake:
        assert (await audit(fake, tmp_path / "before")).code == 0
        users = tmp_path / "before" / "users.csv"
        users.write_text("\ufeff" + users.read_text(encoding="utf-8"), encoding="utf-8")
        ran = await audit(fake, tmp_path / "after", "--compare", str(tmp_path / "before"))
    assert ran.code == 0, ran.stderr
    changes = json.loads((tmp_path / "after" / "changes.json").read_text())
    assert changes["added"]["users"] == changes["removed"]["users"] == []


async def test_compare_with_an_earlier_csv_missing_a_column_is_one_line(tmp_path: Path) -> None:
    async with FakeCloudOne(users=5) as fake:
        assert (await audit(fake, tmp_path / "before")).code == 0
        users = tmp_path / "before" / "users.csv"
        lines = users.read_text(encoding="utf-8").splitlines()
        users.write_text("\n".join(",".join(line.split(",")[:2]) for line in lines) + "\n")
        ran = await audit(fake, tmp_path / "after", "--compare", str(tmp_path / "before"))
    assert ran.code == 1
    (line,) = ran.stderr.strip().splitlines()
    assert line.startswith("c1iam: error: --compare: ")
    assert "users.csv lacks the column(s)" in line


async def test_an_audit_interrupted_while_comparing_leaves_no_stale_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    async with FakeCloudOne(users=5) as fake:
        earlier = await invoke(
            "audit", "--out", str(out), "--as-of", "2026-01-01", env=env_for(fake)
        )
        assert earlier.code == 0, earlier.stderr
        assert (await audit(fake, tmp_path / "previous")).code == 0

        def interrupted(previous: Path, current: Path) -> dict[str, object]:
            raise KeyboardInterrupt  # Ctrl-C while the CSVs are compared

        monkeypatch.setattr(_audit_command, "compare", interrupted)
        ran = await audit(fake, out, "--compare", str(tmp_path / "previous"))
    assert ran.code != 0
    # The new files are in place: no report of the earlier audit pretends to describe them.
    assert json.loads((out / "findings.json").read_text())["as_of"] == NOW.isoformat().replace(
        "+00:00", "Z"
    )
    assert not (out / "report.md").exists()


async def test_an_audit_without_compare_leaves_no_earlier_changes(tmp_path: Path) -> None:
    async with FakeCloudOne(users=5) as fake:
        assert (await audit(fake, tmp_path / "a")).code == 0
        assert (await audit(fake, tmp_path / "b", "--compare", str(tmp_path / "a"))).code == 0
        assert (tmp_path / "b" / "changes.json").exists()
        again = await audit(fake, tmp_path / "b")
    assert again.code == 0, again.stderr
    assert not (tmp_path / "b" / "changes.json").exists()
    assert (
        _report_as_of(tmp_path / "b")
        == json.loads((tmp_path / "b" / "findings.json").read_text())["as_of"]
    )
