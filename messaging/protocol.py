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

# The detail of each error the service answers; the OpenAPI document's examples quote them.
INVALID_REQUEST_DETAIL = "The request is not valid; see errors for each field."
MISSING_API_KEY_DETAIL = f"Send an API key as Authorization: {BEARER_SCHEME} <token>."
INVALID_API_KEY_DETAIL = "The API key is unknown or revoked."
FOREIGN_ACCOUNT_DETAIL = "This API key cannot act for that account."
NO_SUCH_MESSAGE_DETAIL = "There is no message {message_id}."
IDEMPOTENCY_CONFLICT_DETAIL = "A concurrent request with this Idempotency-Key is in the way; retry."
BODY_TOO_LARGE_DETAIL = (
    "The request body is larger than the {limit} bytes allowed (MAX_CONTENT_LENGTH)."
)
NOT_JSON_DETAIL = "Send the body as JSON with Content-Type: application/json."
UNEXPECTED_DETAIL = "An unexpected error occurred; quote request id {request_id} when reporting it."

# RFC 3986 path characters other than "%": everything else in a path the service writes back
# (a log line, a Link header) is percent-encoded.
PATH_SAFE_CHARACTERS = "/:@!$&'()*+,;=-._~"
# What a client is told when its write lost to concurrent writes and changed nothing.
WRITE_CONFLICT_DETAIL = (
    "Write conflict, retry: a concurrent write to the same data won, and this request"
    " changed nothing."
)
WRITE_CONFLICT_RETRY_AFTER_SECONDS = 1
# ... and when the database answered with an error that is neither an outage nor a conflict.
DATABASE_FAILED_DETAIL = "The database could not complete the request right now; retry shortly."
