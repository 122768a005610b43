"""c1iam: an asyncio client for Trend Micro Cloud One identity APIs.

Cloud One Accounts and Identity Management (users) and Workload Security / Deep Security
Manager (administrator roles). Everything importable from here is public (the README
describes it), everything in a `_module` is not.
"""

from ._auth import Secret
from ._bulk import BulkResult
from ._errors import (
    APIError,
    BadRequest,
    C1IAMError,
    Forbidden,
    InvalidArgument,
    NotFound,
    ProtocolError,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    StreamConsumed,
    TransportError,
    Unauthorized,
)
from ._retry import RetryPolicy
from ._sansio import Request, Response
from ._session import Session
from ._streams import Page, Stream
from ._throttle import ThrottleStats
from ._transport import Transport
from ._version import __version__ as __version__
from .models import (
    Account,
    AdministratorRole,
    ApiKey,
    CloudOneRole,
    Criterion,
    Invitation,
    Rights,
    User,
)

__all__ = [
    "APIError",
    "Account",
    "AdministratorRole",
    "ApiKey",
    "BadRequest",
    "BulkResult",
    "C1IAMError",
    "CloudOneRole",
    "Criterion",
    "Forbidden",
    "InvalidArgument",
    "Invitation",
    "NotFound",
    "Page",
    "ProtocolError",
    "RateLimited",
    "Request",
    "Response",
    "RetryPolicy",
    "Rights",
    "Secret",
    "ServerError",
    "ServiceUnavailable",
    "Session",
    "Stream",
    "StreamConsumed",
    "ThrottleStats",
    "Transport",
    "TransportError",
    "Unauthorized",
    "User",
]
