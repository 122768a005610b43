"""The `c1iam` command, run as a subprocess against the fake server of the test."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import pty
import signal
import sys
import uuid
from pathlib import Path

import attrs
import pytest

import c1iam as c1iam_library
from c1iam.cli import _app as cli_app
from c1iam.cli._app import usage_message
from c1iam.testing import FakeCloudOne, RateLimit, RecordedRequest

from .test_cli_audit import env_for, invoke

pytestmark = pytest.mark.anyio

REPOSITORY = Path(__file__).resolve().parents[1]
NO_KEY: dict[str, str | None] = {
    "C1IAM_API_KEY": None,
    "C1IAM_REGION": None,
    "C1IAM_ACCOUNTS_URL": None,
    "C1IAM_WORKLOAD_URL": None,
}
AS_OF = "2026-11-01T00:00:00+0000"


@attrs.frozen
class Ran:
    """A finished run of the command."""

    code: int
    stdout: str
    stderr: str


def environment(fake: FakeCloudOne | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("C1IAM_")}
    env["PYTHONPATH"] = str(REPOSITORY)
    if fake is not None:
        env |= {
            "C1IAM_API_KEY": fake.api_key,
            "C1IAM_ACCOUNTS_URL": fake.accounts_url,
            "C1IAM_WORKLOAD_URL": fake.workload_url,
        }
    return env | extra


async def start(
    *arguments: str, env: dict[str, str], cwd: Path, stdin: bytes | None = None
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "c1iam",
        *arguments,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def c1iam(*arguments: str, env: dict[str, str], cwd: Path, stdin: bytes | None = None) -> Ran:
    process = await start(*arguments, env=env, cwd=cwd, stdin=stdin)
    stdout, stderr = await asyncio.wait_for(process.communicate(stdin), timeout=60)
    assert process.returncode is not None
    return Ran(process.returncode, stdout.decode(), stderr.decode())


async def test_audit_writes_every_user_and_role_once_and_the_right_findings(
    fake: FakeCloudOne, tmp_path: Path
) -> None:
    ran = await invoke(
        "audit", "--out", str(tmp_path / "report"), "--inactive-days", "30", "--as-of", AS_OF,
        env=env_for(fake),
    )  # fmt: skip
    assert ran.code == 0, ran.stderr
    out = tmp_path / "report"
    with (out / "users.csv").open() as file:
        users = list(csv.DictReader(file))
    with (out / "roles.csv").open() as file:
        roles = list(csv.DictReader(file))
    assert sorted(row["id"] for row in users) == sorted(fake.users)
    assert sorted(int(row["id"]) for row in roles) == sorted(fake.roles)
    with (out / "api_keys.csv").open() as file:
        api_keys = list(csv.DictReader(file))
    assert sorted(row["id"] for row in api_keys) == sorted(fake.api_keys)
    assert not any("secret" in column for column in api_keys[0])
    with (out / "invitations.csv").open() as file:
        invitations = list(csv.DictReader(file))
    assert sorted(row["id"] for row in invitations) == sorted(fake.invitations)
    with (out / "cloud_one_roles.csv").open() as file:
        cloud_one_roles = list(csv.DictReader(file))
    assert sorted(row["id"] for row in cloud_one_roles) == sorted(fake.cloud_one_roles)
    findings = json.loads((out / "findings.json").read_text())
    assert findings["counts"]["users"] == len(fake.users)
    per_role: dict[str, int] = {}
    for user in fake.users.values():
        per_role[user["roleID"]] = per_role.get(user["roleID"], 0) + 1
    assert findings["users_per_role"] == dict(sorted(per_role.items()))
    assert "c1iam audit of account 123456789012" in ran.stdout


async def test_demo_audit_runs_without_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In-process, and with the demo's rate limit lifted: neither the command's own process
    # nor the pacing is the point here (the README's demo, which CI runs, shows both); no
    # key in the environment is.
    monkeypatch.setattr(cli_app, "DEMO_RATE", 10_000.0)
    without_key = {name: None for name in os.environ if name.startswith("C1IAM_")}
    ran = await invoke(
        "--demo", "audit", "--out", str(tmp_path / "out"), env=without_key | {"C1IAM_API_KEY": None}
    )
    assert ran.code == 0, ran.stderr
    assert "3,000 users" in ran.stdout
    for name in ("users.csv", "api_keys.csv", "roles.csv", "findings.json", "report.md"):
        assert (tmp_path / "out" / name).stat().st_size > 0


async def test_an_interrupted_audit_leaves_no_file(fake: FakeCloudOne, tmp_path: Path) -> None:
    fake.rate_limit = RateLimit(rate=2, burst=1)  # slow enough to interrupt mid-way
    process = await start("audit", "--out", "out", env=environment(fake), cwd=tmp_path)
    for _ in range(400):
        if fake.requests:
            break
        await asyncio.sleep(0.025)
    assert fake.requests, "the audit never started"
    process.send_signal(signal.SIGINT)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 130, stderr.decode()
    assert "interrupted" in stderr.decode()
    left = list((tmp_path / "out").iterdir())
    assert left == []


async def test_users_modify_in_bulk_from_stdin(fake: FakeCloudOne, tmp_path: Path) -> None:
    ids = [i for i, u in fake.users.items() if u["state"] == "enabled"][:10]
    ran = await invoke(
        "users", "modify", "--state", "disabled",
        env=env_for(fake), stdin="\n".join(ids) + "\n",
    )  # fmt: skip
    assert ran.code == 0, ran.stderr
    # One line per ID as it completes: the order is the completions', not the input's.
    assert sorted(ran.stdout.splitlines()) == sorted(f"{i} ok" for i in ids)
    assert all(fake.users[i]["state"] == "disabled" for i in ids)


async def test_a_failed_item_fails_the_run_but_not_the_others(
    fake: FakeCloudOne, tmp_path: Path
) -> None:
    missing = str(uuid.uuid4())
    present = next(iter(fake.users))
    ran = await invoke(
        "users", "modify", "--role-id", "auditor", missing, present,
        env=env_for(fake),
    )  # fmt: skip
    assert ran.code == 1
    lines = sorted(ran.stdout.splitlines(), key=lambda line: line != f"{present} ok")
    assert lines[0] == f"{present} ok"
    assert lines[1].startswith(f"{missing} error: 404")
    assert fake.users[present]["roleID"] == "auditor"


async def test_a_bad_id_on_stdin_sends_nothing(fake: FakeCloudOne, tmp_path: Path) -> None:
    good = next(iter(fake.users))
    ran = await invoke(
        "users", "modify", "--state", "disabled",
        env=env_for(fake), stdin=f"{good}\nnot-a-uuid\n",
    )  # fmt: skip
    assert ran.code == 2
    assert "not-a-uuid" in ran.stderr
    assert ran.stderr.count("\n") == 1  # one line, no traceback
    assert fake.requests == []


@pytest.mark.parametrize("output_format", ["jsonl", "csv"])
async def test_users_list_formats(fake: FakeCloudOne, tmp_path: Path, output_format: str) -> None:
    ran = await invoke("users", "list", "--format", output_format, env=env_for(fake))
    assert ran.code == 0, ran.stderr
    if output_format == "jsonl":
        ids = [json.loads(line)["id"] for line in ran.stdout.splitlines()]
    else:
        ids = [row["id"] for row in csv.DictReader(ran.stdout.splitlines())]
    assert sorted(ids) == sorted(fake.users)


async def test_roles_search_by_name(fake: FakeCloudOne, tmp_path: Path) -> None:
    ran = await invoke(
        "admin-roles", "search", "--name", "Full%", "--format", "jsonl",
        env=env_for(fake),
    )  # fmt: skip
    assert ran.code == 0, ran.stderr
    names = [json.loads(line)["name"] for line in ran.stdout.splitlines()]
    assert names == [r["name"] for r in fake.roles.values() if r["name"].startswith("Full")]


async def test_unknown_flag_is_a_usage_error(tmp_path: Path) -> None:
    ran = await invoke("audit", "--no-such-flag", env=NO_KEY)
    assert ran.code == 2
    assert "no-such-flag" in ran.stderr


async def test_missing_key_is_one_clear_line(tmp_path: Path) -> None:
    ran = await invoke("users", "list", env=NO_KEY)
    assert ran.code == 2
    assert "C1IAM_API_KEY" in ran.stderr
    assert "Traceback" not in ran.stderr


async def test_unknown_region_is_a_usage_error(tmp_path: Path) -> None:
    env = NO_KEY | {"C1IAM_API_KEY": "id:secret"}
    ran = await invoke("--region", "mars-1", "users", "list", env=env)
    assert ran.code == 2
    assert "us-1" in ran.stderr


async def test_unreachable_service_is_a_failure(tmp_path: Path) -> None:
    env = environment(None, C1IAM_API_KEY="id:secret")
    ran = await c1iam(
        "--attempts", "1", "--accounts-url", "http://127.0.0.1:9/api", "users", "list",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert ran.code == 1
    assert ran.stderr.startswith("c1iam: error: cannot reach 127.0.0.1:9")
    assert "Traceback" not in ran.stderr


def test_usage_messages_name_flags_not_argument_names() -> None:
    with pytest.raises(c1iam_library.InvalidArgument) as raised:
        c1iam_library.Session("id:secret", accounts_url="http://example.com/api")
    message = usage_message(raised.value)
    assert message.startswith("--accounts-url uses plain HTTP to 'example.com'")
    assert "accounts_url" not in message
    assert usage_message(ValueError("max_concurrency and my_role_id")) == (
        "--max-concurrency and my_role_id"  # only whole names
    )


async def test_the_key_is_never_printed(fake: FakeCloudOne, tmp_path: Path) -> None:
    secret = fake.api_key.split(":", 1)[1]
    ok = await c1iam("-v", "users", "list", env=environment(fake), cwd=tmp_path)
    key_file = tmp_path / "key"
    key_file.write_text(fake.api_key + "-wrong\n")
    refused = await c1iam(
        "-v", "--api-key-file", str(key_file), "users", "list",
        env=environment(fake, C1IAM_API_KEY=""), cwd=tmp_path,
    )  # fmt: skip
    assert ok.code == 0
    assert refused.code == 1
    assert "the API key was refused" in refused.stderr
    for ran in (ok, refused):
        assert secret not in ran.stdout + ran.stderr
    assert "GET http://127.0.0.1" in ok.stderr  # -v logged the requests, host included
    assert "/accounts/api/users: 200" in ok.stderr


async def test_a_broken_pipe_ends_quietly_with_exit_0(tmp_path: Path) -> None:
    async with FakeCloudOne(users=3000, seed=4) as fake:
        process = await asyncio.create_subprocess_exec(
            "bash", "-c",
            f"{sys.executable} -m c1iam users list --format csv | head -1;"
            " echo \"exit=${PIPESTATUS[0]}\" >&2",
            env=environment(fake), cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert stdout.decode().startswith("id,name,email")
    assert stderr.decode() == "exit=0\n"


async def test_ctrl_c_during_a_bulk_modify_leaves_a_complete_record(
    fake: FakeCloudOne, tmp_path: Path
) -> None:
    ids = [i for i, u in fake.users.items() if u["state"] == "enabled"][:40]
    changed: list[str] = []

    async def slowly(request: RecordedRequest) -> None:
        if request.method == "POST":
            await asyncio.sleep(0.05)
            changed.append(request.path.rsplit("/", 1)[1])

    fake.before_request.append(slowly)
    process = await start(
        "--max-concurrency", "2", "users", "modify", "--state", "disabled",
        env=environment(fake), cwd=tmp_path, stdin=b"",
    )  # fmt: skip
    assert process.stdin is not None
    process.stdin.write("\n".join(ids).encode())
    process.stdin.close()
    for _ in range(400):
        if len(changed) >= 6:
            break
        await asyncio.sleep(0.01)
    process.send_signal(signal.SIGINT)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 130, stderr.decode()
    lines = dict(line.split(" ", 1) for line in stdout.decode().splitlines())
    assert sorted(lines) == sorted(ids)  # one line per ID, none lost
    disabled = {i for i in ids if fake.users[i]["state"] == "disabled"}
    assert disabled, "nothing was changed before the interrupt"
    for user_id in disabled:  # every change made is on record, as done or possibly done
        assert lines[user_id] == "ok" or lines[user_id].startswith("unknown"), lines[user_id]
    assert any(outcome.startswith("not done") for outcome in lines.values())
    for user_id, outcome in lines.items():
        if outcome == "ok":
            assert user_id in disabled


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--sliding-window", "500"], "CALLS/SECONDS"),
        (["--maintenance", "soon"], "START:SECONDS"),
        (["--rate-limit", "40", "--sliding-window", "500/60"], "not both"),
    ],
)
async def test_fake_server_refuses_bad_shapes_as_usage_errors(
    arguments: list[str], message: str
) -> None:
    ran = await invoke("fake-server", "--port", "0", *arguments, env={})
    assert ran.code == 2
    assert message in ran.stderr


@pytest.mark.parametrize(
    "arguments",
    [("audit", "--out", "{out}"), ("users", "list", "--format", "table")],
)
async def test_a_reader_gone_during_rich_output_exits_0(
    tmp_path: Path, arguments: tuple[str, ...]
) -> None:
    # A broken pipe on stdout exits 0 quietly, rich's output included (rich's own
    # handling exits 1).
    command = " ".join(a.format(out=tmp_path / "out") for a in arguments)
    async with FakeCloudOne(users=300, seed=4) as fake:
        process = await asyncio.create_subprocess_exec(
            "bash", "-c",
            f"{sys.executable} -m c1iam {command} | true; echo \"exit=${{PIPESTATUS[0]}}\" >&2",
            env=environment(fake), cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert stderr.decode() == "exit=0\n"


async def test_csv_on_a_terminal_escapes_control_characters(tmp_path: Path) -> None:
    # As the table does: an escape sequence in a name must not clear the screen or plant
    # an OSC 8 link.
    async with FakeCloudOne(users=0) as fake:
        fake.add_user(name="\x1b[2Jx", email="a\x1b]8;;http://evil.example\x1b\\b@example.com")
        controller, terminal = pty.openpty()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "c1iam", "users", "list", "--format", "csv",
            env=environment(fake), cwd=tmp_path, stdout=terminal, stderr=terminal,
        )  # fmt: skip
        os.close(terminal)
        await asyncio.wait_for(process.wait(), timeout=60)
        shown = b""
        with contextlib.suppress(OSError):  # (the terminal's end once the process exits)
            while chunk := os.read(controller, 65536):
                shown += chunk
        os.close(controller)
    assert process.returncode == 0, shown
    assert b"\x1b" not in shown
    assert b"\\x1b[2Jx" in shown
