"""`FakeCloudOne`: both APIs served by a real aiohttp server on loopback.

It is as strict as the real services where a client can go wrong: auth and version
headers, ID formats, opaque cursors that only survive URL-encoding, `limit` and
`maxItems` rules, search criteria, read-only and immutable roles. It records every
request, and can be rate-limited and scripted to fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Final

import attrs
from aiohttp import web

from ._faults import (
    Fault,
    FaultScript,
    Limiter,
    Outages,
    RateLimit,
    deep_body,
    format_retry_after,
    huge_body,
)
from ._seed import (
    seed_account,
    seed_api_keys,
    seed_cloud_one_roles,
    seed_invitations,
    seed_roles,
    seed_users,
)
from ._state import (
    IAM_DEFAULT_LIMIT,
    AccountStore,
    ApiKeyStore,
    CloudOneRoleStore,
    IamStore,
    InvitationStore,
    Refused,
    RoleStore,
    UserStore,
    decode_cursor,
    encode_cursor,
    parse_role_id,
    search_roles,
)

__all__ = ["FakeCloudOne", "RecordedRequest"]

_JSON: Final = "application/json"
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"))
_HTML_PAGE: Final = (
    "<!DOCTYPE html><html><head><title>{status} Service Unavailable</title></head>"
    "<body><h1>We'll be back soon</h1><p>Scheduled maintenance.</p></body></html>"
)


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One request the fake received, and the status it answered (0: no answer)."""

    api: str  # "accounts" or "workload"
    method: str
    path: str  # relative to the API's base URL, e.g. "/users/<id>"
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: Any
    status: int


Hook = Callable[[RecordedRequest], "Awaitable[None] | None"]


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.Response(
        status=status,
        text=_ENCODER.encode({"message": message}),
        content_type=_JSON,
        headers=headers,
    )


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=_ENCODER.encode(data), content_type=_JSON)


class FakeCloudOne:
    """The fake: `async with FakeCloudOne(users=100, roles=10, seed=1) as fake: ...`.

    Base URLs: `fake.accounts_url` (IAM) and `fake.workload_url` (Workload Security).
    Keys: `fake.api_key` (`Authorization: ApiKey ...`, both APIs) and
    `fake.legacy_api_key` (`api-secret-key`, the workload API only).
    State, in wire form, to change freely: IAM `fake.users`, `fake.api_keys`,
    `fake.cloud_one_roles`, `fake.accounts` (one account), `fake.invitations`; Workload
    Security `fake.roles` (administrator roles).
    `ssl_context` serves HTTPS with that context's certificate (a private CA's, say), as an
    on-premises Deep Security Manager would.
    Knobs: `iam_page_cap` (larger `limit`s are served smaller), `iam_max_limit` (larger ones
    are refused with 400), `search_page_cap`, `rate_limit`, `outages`, `inject(fault)`,
    `before_request` hooks; `requests` lists what was received.
    """

    def __init__(
        self,
        *,
        users: int = 0,
        roles: int = 0,
        api_keys: int = 0,
        invitations: int = 0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.users = UserStore(seed_users(users, seed))
        self.api_keys = ApiKeyStore(seed_api_keys(api_keys, seed))
        self.cloud_one_roles = CloudOneRoleStore(seed_cloud_one_roles())
        self.accounts = AccountStore([seed_account()])
        self.invitations = InvitationStore(seed_invitations(invitations, seed))
        self.roles = RoleStore((role["ID"], role) for role in seed_roles(roles, seed))
        for holder in (self.users, self.api_keys, self.invitations):
            holder.role_ids = self.cloud_one_roles  # only existing roles are accepted
        self.api_key = f"fake-key-{seed}:fake-secret-{seed}"
        self.legacy_api_key = f"fake-legacy-secret-{seed}"
        self.iam_page_cap: int | None = None
        self.iam_max_limit: int | None = None
        self.search_page_cap: int | None = None
        self.rate_limit: RateLimit | None = None
        self.outages: Outages | None = None
        self.before_request: list[Hook] = []
        self.requests: list[RecordedRequest] = []
        self.clock = clock
        self.wall_clock = wall_clock
        self._host = host
        self._port = port
        self._ssl_context = ssl_context
        self._faults = FaultScript()
        self._limiter: Limiter | None = None
        self._first_request_at: float | None = None
        self._count = 0
        self._runner: web.AppRunner | None = None
        # Set by `close`: a delayed answer stops waiting, so closing never waits for it.
        self._closing = asyncio.Event()
        self._base = ""

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def accounts_url(self) -> str:
        """The IAM base URL."""
        return f"{self._base}/accounts/api"

    @property
    def workload_url(self) -> str:
        """The Workload Security base URL."""
        return f"{self._base}/workload/api"

    async def start(self) -> None:
        """Start serving (`async with` calls this)."""
        self._closing.clear()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # No access log: a benchmark's million lines would be the slowest part.
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, ssl_context=self._ssl_context)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        scheme = "http" if self._ssl_context is None else "https"
        self._base = f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port}"

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            self._closing.set()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeCloudOne:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- knobs ------------------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        """Script a fault for the next matching request(s)."""
        self._faults.add(fault)

    def add_user(self, **fields: Any) -> dict[str, Any]:
        """Store a user (wire names; defaults for the rest) and return it."""
        user = self.users.new(**fields)
        self.users[user["id"]] = user
        return user

    def add_role(self, **fields: Any) -> dict[str, Any]:
        """Store an administrator role (wire names) with the next ID and return it."""
        role_id = self.roles.next_id()
        role = {"ID": role_id, "urn": f"{self.roles.urn_prefix}{role_id}", "immutable": False}
        role.update(fields)
        self.roles[role_id] = role
        return role

    # -- the request path ---------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """Every request: record it, run hooks, faults, the rate limit, then the API."""
        api, _, relative = request.path.partition("/api")
        api = api.strip("/")
        body: Any = None
        status = 0
        try:
            raw = await request.read()
            if raw:
                if request.content_type != _JSON:
                    return _error(415, "Content-Type must be application/json.")
                try:
                    body = json.loads(raw)
                except ValueError:
                    return _error(400, "The request body is not valid JSON.")
            for hook in self.before_request:
                result = hook(self._record(request, api, relative, body, 0))
                if inspect.isawaitable(result):
                    await result
            response = await self._answer(request, api, relative, body)
            status = response.status
            return response
        finally:
            self.requests.append(self._record(request, api, relative, body, status))

    @staticmethod
    def _record(
        request: web.Request, api: str, relative: str, body: Any, status: int
    ) -> RecordedRequest:
        return RecordedRequest(
            api=api,
            method=request.method,
            path=relative,
            query=dict(request.query),
            headers=dict(request.headers),
            body=body,
            status=status,
        )

    async def _answer(
        self, request: web.Request, api: str, relative: str, body: Any
    ) -> web.StreamResponse:
        fault = self._faults.take(request.method, relative)
        if fault is not None and fault.kind == "delay":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.seconds)
            fault = None
        if fault is not None and fault.kind == "huge":
            return await self._huge_response(request, fault)
        if fault is not None and not fault.after:
            return self._fault_response(request, fault)
        refused = self._unavailable() or self._rate_limited()
        if refused is not None:
            return refused
        try:
            self._check_headers(request, api)
            if api == "accounts":
                response = self._accounts(request, relative, body)
            elif api == "workload":
                response = self._workload(request, relative, body)
            else:
                raise Refused(404, "No such resource.")
        except Refused as error:
            return _error(error.status, error.message)
        if fault is not None:  # after=True: the change is made, the answer is lost
            return self._fault_response(request, fault)
        return response

    def _rate_limited(self) -> web.Response | None:
        if self.rate_limit is None:
            self._limiter = None
            return None
        if self._limiter is None or self._limiter.limit != self.rate_limit:
            self._limiter = self.rate_limit.limiter()
        wait = self._limiter.admit(self.clock())
        if wait is None:
            return None
        retry_after = format_retry_after(self.rate_limit.retry_after, wait, self.wall_clock())
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        return _error(429, "Too many API requests.", **headers)

    def _unavailable(self) -> web.Response | None:
        now = self.clock()
        if self._first_request_at is None:
            self._first_request_at = now
        self._count += 1
        if self.outages is None:
            return None
        outage = self.outages.unavailable(self._count, now - self._first_request_at)
        if outage is None:
            return None
        retry_after, html = outage
        return self._fault_response(None, Fault.status(503, html=html, retry_after=retry_after))

    def _fault_response(self, request: web.Request | None, fault: Fault) -> web.Response:
        if fault.kind == "reset":
            # Drop the connection: the client gets no answer at all.
            if request is not None and request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        if fault.kind == "truncated":
            cut = fault.body if fault.body is not None else b'{"users": [{"id": "cc401d8f-79'
            return web.Response(status=fault.status_code, body=cut, content_type=_JSON)
        if fault.kind == "deep":
            return web.Response(
                status=fault.status_code, body=deep_body(fault.depth), content_type=_JSON
            )
        headers = {} if fault.retry_after is None else {"Retry-After": fault.retry_after}
        if fault.html:
            return web.Response(
                status=fault.status_code,
                text=_HTML_PAGE.format(status=fault.status_code),
                content_type="text/html",
                headers=headers,
            )
        body = fault.body if fault.body is not None else {"message": "Scripted failure."}
        return web.Response(
            status=fault.status_code,
            text=_ENCODER.encode(body),
            content_type=_JSON,
            headers=headers,
        )

    @staticmethod
    async def _huge_response(request: web.Request, fault: Fault) -> web.StreamResponse:
        """A body written piece by piece as it is generated: the fake never holds it."""
        response = web.StreamResponse(status=fault.status_code)
        response.content_type = _JSON
        if fault.gzip:
            response.headers["Content-Encoding"] = "gzip"
        elif not fault.chunked:
            response.content_length = fault.size
        try:
            await response.prepare(request)
            for piece in huge_body(fault.size, gzip=fault.gzip):
                await response.write(piece)
            await response.write_eof()
        except ConnectionError:
            pass  # the client stopped reading: what a size cap is for
        return response

    def _check_headers(self, request: web.Request, api: str) -> None:
        headers = request.headers
        if headers.get("Api-Version") != "v1":
            raise Refused(400, "The api-version header must be v1.")
        authorization = headers.get("Authorization")
        legacy = headers.get("api-secret-key")
        if api == "workload" and authorization is not None and legacy is not None:
            raise Refused(400, "Send either Authorization or api-secret-key, not both.")
        if authorization == f"ApiKey {self.api_key}":
            return
        if api == "workload" and legacy == self.legacy_api_key and authorization is None:
            return
        raise Refused(401, "The API key is missing or not valid.")

    # -- IAM ----------------------------------------------------------------------------------

    def _iam_collections(self) -> Mapping[str, IamStore]:
        return {
            "users": self.users,
            "apikeys": self.api_keys,
            "roles": self.cloud_one_roles,
            "accounts": self.accounts,
            "invitations": self.invitations,
        }

    def _accounts(self, request: web.Request, relative: str, body: Any) -> web.Response:
        # Every IAM collection follows one set of conventions (the IAM API reference);
        # the stores differ only in their rules.
        parts = relative.strip("/").split("/")
        method = request.method
        store = self._iam_collections().get(parts[0])
        if store is None or len(parts) > 2:
            raise Refused(404, "No such resource.")
        if len(parts) == 1:
            if method == "GET" and store.can_list:
                return self._list(request, parts[0], store)
            if method == "POST" and store.can_create:
                return _json(store.create(body), status=store.created_status)
        elif method == "GET":
            return _json(store.get_item(parts[1]))
        elif method == "POST" and store.can_modify:
            return _json(store.modify(parts[1], body))
        elif method == "DELETE" and store.can_delete:
            store.get_item(parts[1])
            del store[parts[1]]
            return web.Response(status=204)
        raise Refused(405, "Method not allowed.")

    def _list(self, request: web.Request, items_key: str, store: IamStore) -> web.Response:
        query = request.query
        try:
            limit = int(query.get("limit", "0"))
        except ValueError:
            raise Refused(400, "limit must be an integer.") from None
        if limit < 0:
            raise Refused(400, "limit must not be negative.")
        limit = limit or IAM_DEFAULT_LIMIT
        if self.iam_max_limit is not None and limit > self.iam_max_limit:
            raise Refused(400, f"limit must be at most {self.iam_max_limit}.")
        if self.iam_page_cap is not None:
            limit = min(limit, self.iam_page_cap)
        after = decode_cursor(query["cursor"]) if "cursor" in query else None
        match = {name: value for name, value in query.items() if name in store.filters}
        items, following = store.page(limit=limit, after=after, match=match)
        body: dict[str, Any] = {items_key: items}
        if following is not None:
            body["next"] = encode_cursor(following)
        return _json(body)

    # -- Workload Security ------------------------------------------------------------------------

    def _workload(self, request: web.Request, relative: str, body: Any) -> web.Response:
        parts = relative.strip("/").split("/")
        method = request.method
        if parts == ["roles"]:
            if method == "GET":
                return _json({"roles": list(self.roles.values())})
            if method == "POST":
                return _json(self.roles.create(body))
        elif parts == ["roles", "search"]:
            if method == "POST":
                found = search_roles(self.roles, body, cap=self.search_page_cap)
                return _json({"roles": found})
        elif len(parts) == 2 and parts[0] == "roles":
            role_id = parse_role_id(parts[1])
            if method == "GET":
                return _json(self.roles.get_role(role_id))
            if method == "POST":
                return _json(self.roles.modify(role_id, body))
            if method == "DELETE":
                self.roles.delete(role_id)
                return web.Response(status=200)
        else:
            raise Refused(404, "No such resource.")
        raise Refused(405, "Method not allowed.")
