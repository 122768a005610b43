"""The resource commands, bulk changes and output safety, in-process against the fake."""

from __future__ import annotations

import ast
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

import c1iam.cli
from c1iam.testing import FakeCloudOne

from .test_cli_audit import env_for, invoke

pytestmark = pytest.mark.anyio


async def test_csv_cells_cannot_become_formulas(tmp_path: Path) -> None:
    async with FakeCloudOne() as fake:
        fake.add_user(name='=HYPERLINK("http://evil.example","x")', email="@evil@example.com")
        fake.add_user(name="+1", email="-2@example.com")
        ran = await invoke("users", "list", "--format", "csv", env=env_for(fake))
        assert ran.code == 0, ran.stderr
        rows = list(csv.DictReader(ran.stdout.splitlines()))
        audited = await invoke("audit", "--out", str(tmp_path), env=env_for(fake))
        assert audited.code == 0, audited.stderr
    with (tmp_path / "users.csv").open() as file:
        written = list(csv.DictReader(file))
    for table in (rows, written):
        cells = {row["name"] for row in table} | {row["email"] for row in table}
        assert cells == {
            '\'=HYPERLINK("http://evil.example","x")',
            "'@evil@example.com",
            "'+1",
            "'-2@example.com",
        }


async def test_terminal_tables_escape_control_characters() -> None:
    async with FakeCloudOne() as fake:
        fake.add_user(email="a\x1b]8;;http://evil.example\x1b\\b@example.com\nforged [bold]x")
        ran = await invoke("users", "list", "--format", "table", env=env_for(fake))
    assert ran.code == 0, ran.stderr
    assert "\x1b" not in ran.stdout
    assert "\\x1b]8;;" in ran.stdout
    assert "[bold]" in ran.stdout  # shown as typed, not read as markup


async def test_dry_run_sends_no_change_and_input_drops_duplicates(
    fake: FakeCloudOne, tmp_path: Path
) -> None:
    ids = list(fake.users)[:3]
    listing = tmp_path / "ids.csv"
    listing.write_text("email,id\n" + "".join(f"x@example.com,{i}\n" for i in [*ids, ids[0]]))
    dry = await invoke("users", "delete", "--input", str(listing), "--dry-run", env=env_for(fake))
    assert dry.code == 0, dry.stderr
    assert dry.stdout.splitlines() == [f"{i} would be deleted (dry run)" for i in ids]
    assert "1 duplicate" in dry.stderr
    assert not [r for r in fake.requests if r.method != "GET"]
    done = await invoke("users", "delete", "--input", str(listing), "--yes", env=env_for(fake))
    assert done.code == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == sorted(f"{i} ok" for i in ids)
    assert not set(ids) & set(fake.users)


async def test_api_keys_invitations_roles_and_the_account(fake: FakeCloudOne) -> None:
    env = env_for(fake)
    keys = await invoke("api-keys", "list", "--format", "jsonl", env=env)
    assert sorted(json.loads(line)["id"] for line in keys.stdout.splitlines()) == sorted(
        fake.api_keys
    )
    assert "secret" not in keys.stdout
    key_id = next(iter(fake.api_keys))
    disabled = await invoke("api-keys", "modify", "--disable", key_id, env=env)
    assert disabled.stdout == f"{key_id} ok\n"
    assert fake.api_keys[key_id]["enabled"] is False
    invited = await invoke(
        "invitations", "create", "--email", "new@example.com", "--role-id", "auditor",
        "--format", "jsonl", env=env,
    )  # fmt: skip
    assert invited.code == 0, invited.stderr
    invitation = json.loads(invited.stdout)
    assert fake.invitations[invitation["id"]]["email"] == "new@example.com"
    roles = await invoke("roles", "list", "--format", "jsonl", env=env)
    assert sorted(json.loads(line)["id"] for line in roles.stdout.splitlines()) == sorted(
        fake.cloud_one_roles
    )
    account = await invoke("accounts", "modify", "--mfa-required", "--format", "jsonl", env=env)
    assert account.code == 0, account.stderr
    assert json.loads(account.stdout)["mfa_required"] is True
    assert fake.accounts["123456789012"]["mfaRequired"] is True
    admin = await invoke("admin-roles", "describe", "1", "--format", "jsonl", env=env)
    assert json.loads(admin.stdout)["name"] == fake.roles[1]["name"]
    moved = await invoke("roles", "search", "--name", "x", env=env)
    assert moved.code == 2
    assert "admin-roles" in moved.stderr


async def test_help_names_the_environment_and_the_exit_codes() -> None:
    ran = await invoke("--help", env={})
    for word in ("C1IAM_API_KEY", "C1IAM_REGION", "C1IAM_ACCOUNTS_URL", "C1IAM_WORKLOAD_URL"):
        assert word in ran.stdout
    for code in ("130", "findings at or above --fail-on"):
        assert code in ran.stdout


def test_the_command_imports_the_fake_only_when_asked() -> None:
    code = (
        "import sys, c1iam.cli._main; "
        "assert 'c1iam.testing' not in sys.modules, 'imported'; print('ok')"
    )
    ran = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert ran.stdout == "ok\n", ran.stderr


def test_the_command_imports_only_public_or_shared_names() -> None:
    # The command is a client of the library like any other: the public package, its
    # public subpackages, and what is shared on purpose: the argument checks, and the
    # fake's option parsers (`python -m c1iam.testing` and `c1iam fake-server` take the
    # same options).
    allowed = {
        "c1iam",
        "c1iam.models",
        "c1iam.models.users",
        "c1iam.testing",
        "c1iam._arguments",
        "c1iam.testing._faults",
    }
    package = Path(c1iam.cli.__file__).parent
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.startswith("c1iam"):
                    assert node.module in allowed, f"{source.name} imports {node.module}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("c1iam"):
                        assert alias.name in allowed, f"{source.name} imports {alias.name}"


async def test_the_same_id_written_two_ways_is_changed_once(fake: FakeCloudOne) -> None:
    # Duplicates are found in the form the library sends (a UUID in lower case).
    user_id = next(iter(fake.users))
    ran = await invoke("users", "delete", user_id, user_id.upper(), "--yes", env=env_for(fake))
    deletes = [request for request in fake.requests if request.method == "DELETE"]
    assert ran.code == 0, ran.stdout + ran.stderr
    assert len(deletes) == 1
    assert "1 duplicate user IDs dropped" in ran.stderr


@pytest.mark.parametrize(
    "arguments",
    [
        ("users", "modify", "--role-id", "Full_Access"),
        ("api-keys", "modify", "--role-id", "Full_Access"),
        ("api-keys", "modify", "--allowed-cidr", "10.0.0.1/8"),
        ("users", "list", "--role-id", "Full_Access"),
        ("roles", "delete", "Full_Access", "--yes"),
    ],
)
async def test_a_value_the_library_refuses_is_a_usage_error_before_anything_is_sent(
    fake: FakeCloudOne, arguments: tuple[str, ...]
) -> None:
    # One line and exit 2, not an error line for every ID and exit 1.
    ids = list(fake.users)[:3] if arguments[0] == "users" else list(fake.api_keys)[:3]
    extra = ids if arguments[1] == "modify" else []
    ran = await invoke(*arguments, *extra, env=env_for(fake))
    assert ran.code == 2, (ran.stdout, ran.stderr)
    assert len(ran.stderr.strip().splitlines()) == 1
    assert fake.requests == []


async def test_an_unusable_base_url_is_a_usage_error_in_one_line(fake: FakeCloudOne) -> None:
    env = env_for(fake, C1IAM_ACCOUNTS_URL="https://example.com:99999/api")
    ran = await invoke("users", "list", env=env)
    assert ran.code == 2, (ran.stdout, ran.stderr)
    assert ran.stderr.strip().splitlines() == [
        "c1iam: error: --accounts-url has no usable host and port: 'https://example.com:99999/api'"
    ]


async def test_accounts_modify_checks_its_alias_before_looking_up_the_account(
    fake: FakeCloudOne,
) -> None:
    ran = await invoke("accounts", "modify", "--alias", "", env=env_for(fake))
    assert ran.code == 2, (ran.stdout, ran.stderr)
    assert len(ran.stderr.strip().splitlines()) == 1
    assert fake.requests == []
