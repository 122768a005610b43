"""The aiohttp transport over real sockets: TLS with a private CA, proxies from the
environment, the User-Agent, aiohttp trace hooks."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import trustme

import c1iam
from c1iam.testing import FakeCloudOne, Fault
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio

PROXY_VARIABLES = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY")


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts without proxies, whatever the machine's environment says."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def local_address() -> str | None:
    """A non-loopback address of this machine (a UDP connect sends nothing), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A certificate authority made for these tests."""
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_path(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CA's certificate as a PEM file."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def server_context(ca: trustme.CA, *hosts: str) -> ssl.SSLContext:
    """A server context with a certificate from `ca` for `hosts`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*hosts).configure_cert(context)
    return context


@contextlib.asynccontextmanager
async def tls_fake(ca: trustme.CA, host: str = "127.0.0.1") -> AsyncIterator[FakeCloudOne]:
    """The fake served over HTTPS on `host`, with a certificate from the test's CA."""
    async with FakeCloudOne(
        users=3, seed=1, host=host, ssl_context=server_context(ca, host)
    ) as fake:
        yield fake


def session_to(fake: FakeCloudOne, **options: Any) -> c1iam.Session:
    return c1iam.Session(
        fake.api_key, accounts_url=fake.accounts_url, workload_url=fake.workload_url, **options
    )


# -- TLS ------------------------------------------------------------------------------------


async def test_a_private_ca_is_trusted_with_verify_a_path_and_refused_without_it(
    ca: trustme.CA, ca_path: Path
) -> None:
    async with tls_fake(ca) as fake:
        assert fake.accounts_url.startswith("https://127.0.0.1:")
        async with session_to(fake, verify=str(ca_path)) as session:
            users = await session.users.list().collect()
        assert sorted(user.id for user in users) == sorted(fake.users)
        async with session_to(fake, verify=ca_path) as session:  # a Path too
            assert len(await session.users.list().collect()) == 3
        received = len(fake.requests)
        async with session_to(fake, retry=c1iam.RetryPolicy(attempts=1)) as session:
            with pytest.raises(c1iam.TransportError, match="certificate") as raised:
                await session.users.list().collect()
        assert raised.value.request_may_have_been_sent is False
        assert "verify=" in str(raised.value)  # says what to do
        assert "127.0.0.1" in str(raised.value)  # and where
        assert len(fake.requests) == received  # nothing reached the server


async def test_verify_takes_an_ssl_context(ca: trustme.CA) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with tls_fake(ca) as fake, session_to(fake, verify=context) as session:
        assert len(await session.users.list().collect()) == 3


async def test_verify_false_works_and_is_logged_as_a_warning(
    ca: trustme.CA, caplog: pytest.LogCaptureFixture
) -> None:
    async with tls_fake(ca) as fake:
        with caplog.at_level(logging.WARNING, logger="c1iam"):
            session = session_to(fake, verify=False)
        assert [record.levelname for record in caplog.records] == ["WARNING"]
        assert "verification is off" in caplog.text
        async with session:
            assert len(await session.users.list().collect()) == 3


def test_a_context_that_does_not_verify_is_logged_too(caplog: pytest.LogCaptureFixture) -> None:
    lax = ssl.create_default_context()
    lax.check_hostname = False
    lax.verify_mode = ssl.CERT_NONE
    with caplog.at_level(logging.WARNING, logger="c1iam"):
        c1iam.Session("id:secret", verify=lax)
        c1iam.Session("id:secret", verify=ssl.create_default_context())
    assert len(caplog.records) == 1
    assert "does not check certificates" in caplog.text


@pytest.mark.parametrize(
    ("verify", "message"),
    [
        ("/nonexistent/ca.pem", "cannot load CA certificates"),
        (1, "verify must be"),
        (None, "verify must be"),
    ],
)
def test_a_bad_verify_is_refused_at_once(verify: Any, message: str) -> None:
    with pytest.raises(c1iam.InvalidArgument, match=message):
        c1iam.Session("id:secret", verify=verify)


def test_a_file_that_is_not_a_ca_bundle_is_refused(tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate")
    with pytest.raises(c1iam.InvalidArgument, match="cannot load CA certificates"):
        c1iam.Session("id:secret", verify=not_pem)


# -- proxies --------------------------------------------------------------------------------


class ConnectProxy:
    """A proxy on loopback that tunnels `CONNECT host:port` and records what it saw in clear."""

    def __init__(self) -> None:
        self.heads: list[str] = []
        self.connections = 0
        self.url = ""
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ConnectProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def tunnels(self) -> list[str]:
        return [head.split(" ")[1] for head in self.heads]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            self.heads.append(head)
            method, target, _ = head.split("\r\n", 1)[0].split(" ")
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            host, port = target.rsplit(":", 1)
            upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


@pytest.fixture
def remote_host() -> str:
    """A non-loopback address of this machine: only such hosts go through a proxy."""
    address = local_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    return address


async def test_https_proxy_from_the_environment_tunnels_and_sees_no_key(
    ca: trustme.CA, ca_path: Path, remote_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ConnectProxy() as proxy, tls_fake(ca, remote_host) as fake:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        async with session_to(fake, verify=ca_path) as session:
            users = await session.users.list().collect()
        assert len(users) == 3
        port = fake.accounts_url.split(":")[2].split("/")[0]
        assert proxy.tunnels == [f"{remote_host}:{port}"]
        assert fake.api_key not in "".join(proxy.heads)  # the key only inside the tunnel
        assert fake.requests[0].headers["Authorization"] == f"ApiKey {fake.api_key}"


async def test_no_proxy_and_trust_env_false_connect_directly(
    ca: trustme.CA, ca_path: Path, remote_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ConnectProxy() as proxy, tls_fake(ca, remote_host) as fake:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", f"example.com,{remote_host}")
        async with session_to(fake, verify=ca_path) as session:
            assert len(await session.users.list().collect()) == 3
        monkeypatch.delenv("NO_PROXY")
        async with session_to(fake, verify=ca_path, trust_env=False) as session:
            assert len(await session.users.list().collect()) == 3
        assert proxy.connections == 0
        assert len(fake.requests) == 2


async def test_loopback_hosts_never_go_through_a_proxy(
    fake: FakeCloudOne, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        async with session_to(fake) as session:
            assert len(await session.users.list(max_items=3).collect()) == 3
        assert proxy.connections == 0


async def test_netrc_credentials_are_never_sent_to_the_proxy(
    ca: trustme.CA,
    ca_path: Path,
    remote_host: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(
        f"machine 127.0.0.1 login proxy-user password proxy-password\n"
        f"machine {remote_host} login host-user password host-password\n"
    )
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    async with ConnectProxy() as proxy, tls_fake(ca, remote_host) as fake:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        async with session_to(fake, verify=ca_path) as session:
            await session.users.list().collect()
        assert proxy.tunnels  # the proxy was used...
        assert "proxy-authorization" not in proxy.heads[0].lower()  # ...without .netrc's password
        assert fake.requests[0].headers["Authorization"] == f"ApiKey {fake.api_key}"


def test_a_proxy_url_the_transport_cannot_use_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://user:hunter2@proxy:1080")
    with pytest.raises(c1iam.InvalidArgument, match="HTTPS_PROXY") as raised:
        c1iam.Session("id:secret")
    assert "hunter2" not in str(raised.value)


# -- User-Agent and tracing -----------------------------------------------------------------


async def test_the_user_agent_names_c1iam_after_the_callers_token(fake: FakeCloudOne) -> None:
    async with session_to(fake) as session:
        await session.users.list(max_items=1).collect()
    async with session_to(fake, user_agent="nightly-audit/2.1") as session:
        await session.administrator_roles.list()
    agents = [request.headers["User-Agent"] for request in fake.requests]
    assert agents == [f"c1iam/{c1iam.__version__}", f"nightly-audit/2.1 c1iam/{c1iam.__version__}"]


@pytest.mark.parametrize("bad", ["", "two\nlines", 5])
def test_a_bad_user_agent_is_refused(bad: Any) -> None:
    with pytest.raises(c1iam.InvalidArgument, match="user_agent"):
        c1iam.Session("id:secret", user_agent=bad)


@pytest.mark.parametrize("bad", [aiohttp.TraceConfig(), [object()], "configs"])
def test_trace_configs_must_be_a_list_of_aiohttp_trace_configs(bad: Any) -> None:
    with pytest.raises(c1iam.InvalidArgument, match="trace_configs"):
        c1iam.Session("id:secret", trace_configs=bad)


class Recorder:
    """An aiohttp `TraceConfig` that keeps each request's context and outcome."""

    def __init__(self) -> None:
        self.config = aiohttp.TraceConfig()
        self.started: list[dict[str, Any]] = []
        self.ended: list[tuple[dict[str, Any], int]] = []
        self.config.on_request_start.append(self._start)
        self.config.on_request_end.append(self._end)

    async def _start(self, _: aiohttp.ClientSession, context: SimpleNamespace, __: object) -> None:
        self.started.append(context.trace_request_ctx)

    async def _end(
        self,
        _: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        self.ended.append((context.trace_request_ctx, params.response.status))


async def test_trace_hooks_get_the_route_template_and_attempt_and_never_the_key(
    fake: FakeCloudOne, clock: FakeClock
) -> None:
    recorder = Recorder()
    user_id = next(iter(fake.users))
    fake.inject(Fault.status(500, method="GET", path="^/users/"))
    async with session_to(fake, trace_configs=[recorder.config], clock=clock) as session:
        await session.users.describe(user_id)
        await session.administrator_roles.list()
    host = fake.accounts_url.split("/")[2]
    assert [
        (ctx["method"], ctx["host"], ctx["route"], ctx["attempt"]) for ctx in recorder.started
    ] == [
        ("GET", host, "/users/{id}", 1),
        ("GET", host, "/users/{id}", 2),
        ("GET", host, "/roles", 1),
    ]
    assert [status for _, status in recorder.ended] == [500, 200, 200]
    assert all(isinstance(ctx["queued_for"], float) for ctx in recorder.started)
    assert set(recorder.started[0]) == {"method", "host", "route", "attempt", "queued_for"}
    secret = fake.api_key.split(":")[1]
    assert secret not in repr(recorder.started) + repr(recorder.ended)
    assert user_id not in repr(recorder.started)  # the route, not the path


async def test_debug_log_lines_carry_the_trace_fields(
    fake: FakeCloudOne, caplog: pytest.LogCaptureFixture
) -> None:
    user_id = next(iter(fake.users))
    with caplog.at_level(logging.DEBUG, logger="c1iam"):
        async with session_to(fake) as session:
            await session.users.describe(user_id)
    sent = [record for record in caplog.records if record.getMessage().startswith("sent ")]
    assert len(sent) == 1
    assert "GET" in sent[0].getMessage()
    assert "/users/{id}: 200" in sent[0].getMessage()
    assert sent[0].c1iam["route"] == "/users/{id}"  # type: ignore[attr-defined]
    assert sent[0].c1iam["status"] == 200  # type: ignore[attr-defined]
    assert fake.api_key.split(":")[1] not in caplog.text


def test_the_request_description_is_method_and_url_without_query() -> None:
    request = c1iam.Request(
        method="GET", url="https://dsm.example:4119/api/roles", params=(("cursor", "abc"),)
    )
    assert request.description == "GET https://dsm.example:4119/api/roles"
    assert request.host == "dsm.example:4119"
