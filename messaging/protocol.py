"""Names of the HTTP contract: headers, media types, the auth scheme and the outage answer."""

from __future__ import annotations

REQUEST_ID_HEADER = "X-Request-ID"
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
IDEMPOTENT_REPLAYED_HEADER = "Idempotent-Replayed"
LINK_HEADER = "Link"
RETRY_AFTER_HEADER = "Retry-After"
WWW_AUTHENTICATE_HEADER = "WWW-Authenticate"

BEARER_SCHEME = "Bearer"
PROBLEM_MIMETYPE = "application/problem+json"

# What a client is told while the database cannot be reached, and when to come back.
DATABASE_UNAVAILABLE_DETAIL = "The database cannot be reached right now; retry shortly."
DATABASE_RETRY_AFTER_SECONDS = 2

# RFC 3986 path characters other than "%": everything else in a path the service writes back
# (a log line, a Link header) is percent-encoded.
PATH_SAFE_CHARACTERS = "/:@!$&'()*+,;=-._~"
