"""Hostile answers, shutdowns and misuse, through the public API against the loopback fake.

Nothing a server or a shutdown does may exhaust memory, hang a caller, escape as anything
but a `C1IAMError`, or leave a secret reachable from an exception. These tests also run on
their own under Python's development mode with warnings as errors (asyncio's debug mode:
slow callbacks, never-retrieved exceptions, unclosed resources); the last test does it:

    python -X dev -W error -m pytest tests/test_faults.py -q
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import subprocess
import sys
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
import pytest
from aiohttp import web

import c1iam
from c1iam._pagers import MAX_EMPTY_PAGES_IN_A_ROW
from c1iam.testing import FakeCloudOne, Fault, RecordedRequest
from tests.conftest import requests_to

MiB = 1024 * 1024
USER_ID = "cc401d8f-7920-4d03-9e48-ce8ef79b4835"


@pytest.fixture(scope="module")
def anyio_backend() -> tuple[str, dict[str, Any]]:
    """asyncio in debug mode (as under -X dev), one event loop for the whole module."""
    return "asyncio", {"debug": True}


@pytest.fixture(scope="module")
async def shared_fake(anyio_backend: Any) -> AsyncIterator[FakeCloudOne]:
    """One fake for the module: these tests are about answers, not data, and the file
    runs twice (once under -X dev), so a fresh seeded fake per test would dominate."""
    async with FakeCloudOne(users=12, roles=3, seed=1) as server:
        yield server


@pytest.fixture
def fake(shared_fake: FakeCloudOne) -> Iterator[FakeCloudOne]:
    """The module's fake, with no faults, hooks or recorded requests left by a test."""
    yield shared_fake
    shared_fake._faults.pending.clear()
    shared_fake.before_request.clear()
    shared_fake.requests.clear()


def connect(fake: FakeCloudOne, **kwargs: Any) -> c1iam.Session:
    return c1iam.Session(
        fake.api_key, accounts_url=fake.accounts_url, workload_url=fake.workload_url, **kwargs
    )


def a_user(fake: FakeCloudOne) -> str:
    return next(iter(fake.users))


# -- size -------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_huge_answer_is_refused_at_the_cap(fake: FakeCloudOne, chunked: bool) -> None:
    user_id = a_user(fake)
    fake.inject(Fault.huge(64 * MiB, chunked=chunked, path="^/users/"))
    async with connect(fake, max_answer_size=MiB) as session:
        with pytest.raises(c1iam.ProtocolError, match=r"larger than 1,048,576 bytes"):
            await session.users.describe(user_id)
        # The connection was dropped, not put back with a body half read: the next call works.
        assert (await session.users.describe(user_id)).id == user_id


@pytest.mark.anyio
async def test_an_answer_at_the_cap_is_read(fake: FakeCloudOne) -> None:
    fake.inject(Fault.huge(MiB, chunked=True, path="^/users/"))
    async with connect(fake, max_answer_size=MiB) as session:
        # Read whole, then refused for its shape (a JSON string), not for its size.
        with pytest.raises(c1iam.ProtocolError, match="expected a JSON object, got a string"):
            await session.users.describe(a_user(fake))


@pytest.mark.anyio
async def test_a_gzip_bomb_is_refused_without_inflating_it(fake: FakeCloudOne) -> None:
    # About a megabyte on the wire, a gigabyte once inflated.
    fake.inject(Fault.huge(1024 * MiB, gzip=True, path="^/users$"))
    async with connect(fake, max_answer_size=4 * MiB) as session:
        tracemalloc.start()
        try:
            with pytest.raises(c1iam.ProtocolError, match="after decompression"):
                await session.users.list().collect()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 16 * MiB


@pytest.mark.anyio
async def test_the_default_cap_is_32_mib_after_decompression(fake: FakeCloudOne) -> None:
    fake.inject(Fault.huge(40 * MiB, gzip=True, path="^/users/"))
    async with connect(fake) as session:
        with pytest.raises(c1iam.ProtocolError, match=r"larger than 33,554,432 bytes"):
            await session.users.describe(a_user(fake))


@pytest.mark.anyio
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_error_answer_is_capped_far_lower(fake: FakeCloudOne, chunked: bool) -> None:
    fake.inject(Fault.huge(16 * MiB, status=404, chunked=chunked, path="^/users/"))
    async with connect(fake) as session:
        with pytest.raises(c1iam.ProtocolError, match=r"error answer larger than 65,536 bytes"):
            await session.users.describe(a_user(fake))


# -- depth bombs --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_depth_bomb_is_a_protocol_error_everywhere(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    bomb = 100_000
    fake.inject(Fault.deep(bomb, path="^/users/"))
    with pytest.raises(c1iam.ProtocolError, match="nested too deep"):
        await session.users.describe(a_user(fake))
    fake.inject(Fault.deep(bomb, path="^/users$"))
    with pytest.raises(c1iam.ProtocolError, match="nested too deep"):
        await session.users.list().collect()
    fake.inject(Fault.deep(bomb, path="^/roles$", method="GET"))
    with pytest.raises(c1iam.ProtocolError, match="nested too deep"):
        await session.administrator_roles.list()
    fake.inject(Fault.deep(bomb, path="^/roles/search$"))
    with pytest.raises(c1iam.ProtocolError, match="nested too deep"):
        await session.administrator_roles.search().collect()


@pytest.mark.anyio
async def test_a_depth_bomb_in_an_error_body_keeps_the_status(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    fake.inject(Fault.deep(30_000, status=404, path="^/users/"))  # under the error-body cap
    with pytest.raises(c1iam.NotFound) as raised:
        await session.users.describe(a_user(fake))
    assert "without a message" in raised.value.message


@pytest.mark.anyio
async def test_a_deep_rights_tree_is_a_protocol_error(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    rights: dict[str, Any] = {}
    for _ in range(600):  # parses, but copying it into a model takes two frames a level
        rights = {"r": rights}
    fake.inject(Fault.status(200, body={"ID": 1, "rights": rights}, path="^/roles/1$"))
    with pytest.raises(c1iam.ProtocolError, match=r"AdministratorRole: .*recursion.* \$\.rights"):
        await session.administrator_roles.describe(1)


# -- listings that make no progress ---------------------------------------------------------


def empty_pages(fake: FakeCloudOne, count: int) -> None:
    """`count` IAM pages without users, each with a new cursor, as a broken server sends."""
    for index in range(count):
        body = {"users": [], "next": f"cursor-{index}"}
        fake.inject(Fault.status(200, body=body, path="^/users$", method="GET"))


@pytest.mark.anyio
async def test_empty_pages_in_a_row_end_in_a_protocol_error(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    empty_pages(fake, 100)
    with pytest.raises(c1iam.ProtocolError, match="no progress"):
        await session.users.list().collect()
    assert len(requests_to(fake, "GET", "/users")) == MAX_EMPTY_PAGES_IN_A_ROW + 1


@pytest.mark.anyio
async def test_max_items_also_bounds_the_requests_without_items(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    empty_pages(fake, 100)
    with pytest.raises(c1iam.ProtocolError, match="no progress"):
        await session.users.list(max_items=3).collect()
    assert len(requests_to(fake, "GET", "/users")) == 4


# -- answers of the wrong shape -------------------------------------------------------------

NOT_OBJECTS = [[], "junk", 42, True, [{}]]


@pytest.mark.anyio
async def test_a_role_without_an_id_is_refused(fake: FakeCloudOne, session: c1iam.Session) -> None:
    fake.inject(Fault.status(200, body={}, path="^/roles$", method="POST"))
    with pytest.raises(c1iam.ProtocolError, match="with an ID"):
        await session.administrator_roles.create(c1iam.AdministratorRole(name="auditors"))
    fake.inject(Fault.status(200, body={"roles": [{"ID": 1}, {}]}, path="^/roles$"))
    with pytest.raises(c1iam.ProtocolError, match="with an ID"):
        await session.administrator_roles.list()


@pytest.mark.anyio
@pytest.mark.parametrize("answer", NOT_OBJECTS, ids=repr)
async def test_administrator_roles_read_only_objects(
    fake: FakeCloudOne, session: c1iam.Session, answer: Any
) -> None:
    role = c1iam.AdministratorRole(name="auditors")
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: session.administrator_roles.describe(1),
        lambda: session.administrator_roles.create(role),
        lambda: session.administrator_roles.modify(1, role),
    ]
    for call in calls:
        fake.inject(Fault.status(200, body=answer, path="^/roles"))
        with pytest.raises(c1iam.ProtocolError, match="expected a JSON object"):
            await call()
    for page in ({"roles": answer}, answer):
        if page == {"roles": []}:
            continue  # no roles at all: a fine answer
        fake.inject(Fault.status(200, body=page, path="^/roles$", method="GET"))
        with pytest.raises(c1iam.ProtocolError, match="expected"):
            await session.administrator_roles.list()


@pytest.mark.anyio
async def test_a_list_of_roles_with_junk_among_them_is_refused(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    fake.inject(Fault.status(200, body={"roles": [[], "junk", {}]}, path="^/roles$"))
    with pytest.raises(c1iam.ProtocolError, match="list of JSON objects"):
        await session.administrator_roles.list()
    fake.inject(Fault.status(200, body={"roles": [{"ID": 1}, "junk"]}, path="^/roles/search$"))
    with pytest.raises(c1iam.ProtocolError, match="list of JSON objects"):
        await session.administrator_roles.search().collect()


@pytest.mark.anyio
@pytest.mark.parametrize("answer", NOT_OBJECTS, ids=repr)
async def test_iam_resources_read_only_objects(
    fake: FakeCloudOne, session: c1iam.Session, answer: Any
) -> None:
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: session.users.describe(a_user(fake)),
        lambda: session.roles.describe("full-access"),
        lambda: session.invitations.create(email="a@example.com", role_id="read-only"),
    ]
    for call in calls:
        fake.inject(Fault.status(200, body=answer))
        with pytest.raises(c1iam.ProtocolError, match="expected a JSON object"):
            await call()


# -- close ----------------------------------------------------------------------------------


class HeldRequests:
    """A `before_request` hook that holds every request from the `from_request`-th on."""

    def __init__(self, fake: FakeCloudOne, from_request: int) -> None:
        self.seen = 0
        self.from_request = from_request
        self.release = asyncio.Event()
        self.holding = asyncio.Event()
        fake.before_request.append(self)

    async def __call__(self, _: RecordedRequest) -> None:
        self.seen += 1
        if self.seen >= self.from_request:
            self.holding.set()
            await self.release.wait()

    async def __aenter__(self) -> HeldRequests:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release.set()  # let the fake finish its handlers before it stops


@pytest.mark.anyio
async def test_a_stream_made_before_the_close_raises_the_closed_error(
    fake: FakeCloudOne,
) -> None:
    session = connect(fake)
    stream = session.users.list()
    await session.aclose()
    with pytest.raises(c1iam.C1IAMError, match="closed") as raised:
        await stream.collect()
    assert not isinstance(raised.value, c1iam.StreamConsumed)
    assert fake.requests == []


@pytest.mark.anyio
async def test_a_consumer_waiting_for_a_page_gets_the_close_of_its_session(
    fake: FakeCloudOne,
) -> None:
    session = connect(fake)
    async with HeldRequests(fake, from_request=2) as held:
        pages = session.users.list(page_size=5).pages()
        first = await anext(aiter(pages))
        assert len(first.items) == 5

        async def next_page() -> c1iam.Page[c1iam.User]:
            return await anext(aiter(pages))

        consumer = asyncio.create_task(next_page())
        await held.holding.wait()
        await session.aclose()
        with pytest.raises(c1iam.C1IAMError, match="closed"):
            await asyncio.wait_for(consumer, 1.0)


@pytest.mark.anyio
async def test_a_consumer_in_the_middle_of_a_page_gets_the_close_too(
    fake: FakeCloudOne,
) -> None:
    session = connect(fake)
    seen: list[c1iam.User] = []
    busy, go_on = asyncio.Event(), asyncio.Event()

    async def consume() -> None:
        async for user in session.users.list(page_size=5):
            seen.append(user)
            busy.set()
            await go_on.wait()

    async with HeldRequests(fake, from_request=2):
        consumer = asyncio.create_task(consume())
        await busy.wait()
        await session.aclose()
        go_on.set()
        with pytest.raises(c1iam.C1IAMError, match="closed"):
            await asyncio.wait_for(consumer, 1.0)
    assert len(seen) == 1  # not the rest of the page read before the close


@pytest.mark.anyio
async def test_a_stream_closed_by_another_task_is_an_error_for_its_consumer(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    async with HeldRequests(fake, from_request=2) as held:
        stream = session.users.list(page_size=5)
        consumer = asyncio.create_task(stream.collect())
        await held.holding.wait()
        await stream.aclose()
        with pytest.raises(c1iam.C1IAMError, match="the stream was closed"):
            await asyncio.wait_for(consumer, 1.0)


@pytest.mark.anyio
async def test_bulk_reports_every_item_whatever_happens_to_the_others(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    user_ids = list(fake.users)[:12]

    async def describe_or_fail(user_id: str) -> c1iam.User:
        if user_ids.index(user_id) % 3 == 1:
            # A cancellation that did not come from cancelling the run (a closed session's
            # queue did this): one item's outcome, not the end of its worker.
            raise asyncio.CancelledError
        return await session.users.describe(user_id)

    results = await session.bulk(describe_or_fail, user_ids)
    assert [result.item for result in results] == user_ids
    for index, result in enumerate(results):
        if index % 3 == 1:
            assert isinstance(result.error, c1iam.C1IAMError)
            assert "cancelled" in str(result.error)
        else:
            assert result.value is not None
            assert result.value.id == user_ids[index]


@pytest.mark.anyio
async def test_cancelling_a_bulk_run_still_cancels_it(fake: FakeCloudOne) -> None:
    async with connect(fake, max_concurrency=2) as session, HeldRequests(fake, 1) as held:
        run = asyncio.create_task(session.bulk(session.users.describe, list(fake.users)))
        await held.holding.wait()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run


# -- event loops ----------------------------------------------------------------------------


def offline_session() -> c1iam.Session:
    # Port 9 (discard): nothing in these tests gets as far as connecting.
    return c1iam.Session(
        "key-id:secret", accounts_url="http://127.0.0.1:9/api", workload_url="http://[::1]:9/api"
    )


async def first_use(session: c1iam.Session) -> None:
    """Use the session in the running loop (binding it there) without opening connections,
    so that the test can leave that loop without an unclosed aiohttp session."""
    session.stats()


def test_a_session_refuses_a_second_event_loop() -> None:
    session = offline_session()
    first = asyncio.new_event_loop()
    try:
        first.run_until_complete(first_use(session))
        with pytest.raises(c1iam.C1IAMError, match="second event loop"):
            asyncio.run(session.users.describe(USER_ID))
        with pytest.raises(c1iam.C1IAMError, match="second event loop"):
            asyncio.run(session.users.list().collect())
    finally:
        first.run_until_complete(session.aclose())
        first.close()


def test_a_session_refuses_to_run_after_its_loop_closed() -> None:
    session = offline_session()
    asyncio.run(first_use(session))
    with pytest.raises(c1iam.C1IAMError, match="event loop is closed"):
        asyncio.run(session.users.describe(USER_ID))
    with pytest.raises(c1iam.C1IAMError, match="event loop is closed"):
        session.users.list()


def test_without_an_asyncio_loop_the_error_says_asyncio() -> None:
    session = offline_session()
    call = session.users.describe(USER_ID)
    with pytest.raises(c1iam.C1IAMError, match="c1iam runs on asyncio"):
        call.send(None)  # driven by hand, as another event loop library would
    call.close()


def test_trio_gets_a_clear_error() -> None:
    pytest.importorskip("trio")

    async def main() -> None:
        async with offline_session():
            pass

    async def iterate() -> None:
        await offline_session().users.list().collect()

    def run_on_trio() -> list[BaseException]:
        # In a thread of its own: the module's asyncio runner owns this one.
        raised: list[BaseException] = []
        for entry in (main, iterate):
            try:
                anyio.run(entry, backend="trio")
            except c1iam.C1IAMError as error:
                raised.append(error)
        return raised

    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        raised = executor.submit(run_on_trio).result(timeout=30)
    assert len(raised) == 2
    assert all("c1iam runs on asyncio" in str(error) for error in raised)


# -- secrets off the main path ---------------------------------------------------------------


def reachable_texts(error: BaseException) -> list[str]:
    """Everything an error reporter could print from `error`: messages, attributes, the
    chained exceptions, and the locals of every frame of every traceback."""
    texts: list[str] = []
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        traceback = current.__traceback__
        while traceback is not None:
            texts += [repr(value) for value in traceback.tb_frame.f_locals.values()]
            traceback = traceback.tb_next
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return texts


async def raised_by(call: Awaitable[Any]) -> BaseException:
    """The exception `call` raises (its traceback starts here, not in a test's frame)."""
    try:
        await call
    except c1iam.C1IAMError as error:
        return error
    raise AssertionError("no error was raised")


@pytest.mark.anyio
async def test_a_created_secret_is_unreachable_from_the_error_of_an_unreadable_answer(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    answer = {"id": "key-id", "secret": "key-id:ONE-TIME-SECRET", "created": "yesterday"}
    fake.inject(Fault.status(201, body=answer, path="^/apikeys$", method="POST"))
    error = await raised_by(session.api_keys.create(role_id="read-only"))
    assert isinstance(error, c1iam.ProtocolError)
    assert "'key-id' was created" in str(error)
    texts = reachable_texts(error)
    assert len(texts) > 4  # the walk saw frames
    assert not [text for text in texts if "ONE-TIME-SECRET" in text]


@pytest.mark.anyio
async def test_a_created_secret_is_unreachable_from_the_error_of_a_cut_answer(
    fake: FakeCloudOne, session: c1iam.Session
) -> None:
    cut = b'{"id": "key-id", "secret": "key-id:ONE-TIME-SECRET", "crea'
    fake.inject(Fault.truncated(body=cut, status=201, path="^/apikeys$", method="POST"))
    error = await raised_by(session.api_keys.create(role_id="read-only"))
    assert isinstance(error, c1iam.ProtocolError)
    assert "not JSON" in str(error)
    assert not [text for text in reachable_texts(error) if "ONE-TIME-SECRET" in text]


@pytest.fixture
async def oversized_header_server() -> AsyncIterator[str]:
    """A server whose answer carries a header larger than aiohttp accepts."""

    async def handle(_: web.Request) -> web.Response:
        return web.Response(text="{}", headers={"X-Padding": "a" * 100_000})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/api"
    finally:
        await runner.cleanup()


@pytest.mark.anyio
async def test_the_key_is_unreachable_from_a_transport_error(
    oversized_header_server: str,
) -> None:
    retry = c1iam.RetryPolicy(attempts=1)
    async with c1iam.Session(
        "key-id:THE-API-KEY-SECRET",
        accounts_url=oversized_header_server,
        workload_url=oversized_header_server,
        retry=retry,
    ) as session:
        error = await raised_by(session.users.describe(USER_ID))
    assert isinstance(error, c1iam.TransportError)
    assert len(str(error)) < 500  # not the 100 KB header aiohttp quotes
    assert error.__context__ is None
    assert error.__cause__ is None
    assert not [text for text in reachable_texts(error) if "THE-API-KEY-SECRET" in text]


# -- the same file under development mode ----------------------------------------------------


@pytest.mark.skipif(
    os.environ.get("C1IAM_FAULTS_DEV_MODE") == "1", reason="already running under -X dev"
)
def test_this_file_passes_under_dev_mode_with_warnings_as_errors() -> None:
    root = Path(__file__).resolve().parents[1]
    environment = {**os.environ, "C1IAM_FAULTS_DEV_MODE": "1"}
    # -p no:cacheprovider: the outer run owns the cache.
    command = [sys.executable, "-X", "dev", "-W", "error", "-m", "pytest", "-q", "-p"]
    command += ["no:cacheprovider", str(Path(__file__).relative_to(root))]
    done = subprocess.run(  # noqa: S603 - our own interpreter on our own test file
        command, cwd=root, env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout
