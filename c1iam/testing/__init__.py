"""A fake of Cloud One IAM and Workload Security for tests, demos and local development.

```python
from c1iam.testing import FakeCloudOne

async with FakeCloudOne(users=100, roles=10, seed=1) as fake:
    async with c1iam.Session(fake.api_key, accounts_url=fake.accounts_url,
                             workload_url=fake.workload_url) as session:
        ...
```

It serves both APIs from a real aiohttp server on loopback, as strictly as the real ones,
and can be rate-limited (`fake.rate_limit = RateLimit(rate=50, burst=5)`, or Deep Security's
sliding window `RateLimit.deep_security()`), made unavailable (`fake.outages =
Outages(every=97, maintenance=[(2.0, 4.0)])`) and scripted to fail
(`fake.inject(Fault.status(503, html=True, retry_after="30"))`). It does not import the
client: it speaks only the wire protocol.

For unit tests without a socket, `MockTransport(handler)` answers a session's requests with
a function: `c1iam.Session(key, transport=MockTransport(handler))`.
"""

from ._faults import Fault, Outages, RateLimit
from ._mock import MockTransport
from ._server import FakeCloudOne, RecordedRequest

__all__ = ["FakeCloudOne", "Fault", "MockTransport", "Outages", "RateLimit", "RecordedRequest"]
