"""c1iam: an asyncio client for Trend Micro Cloud One identity APIs.

Cloud One Accounts and Identity Management (users) and Workload Security / Deep Security
Manager (administrator roles). The public surface is described in API.md; everything
importable from here is public, everything in a `_module` is not.
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
from ._session import Session
from ._streams import Page, Stream
from ._throttle import ThrottleStats
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

__version__ = "0.1.0.dev0"

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
    "RetryPolicy",
    "Rights",
    "Secret",
    "ServerError",
    "ServiceUnavailable",
    "Session",
    "Stream",
    "StreamConsumed",
    "ThrottleStats",
    "TransportError",
    "Unauthorized",
    "User",
]
