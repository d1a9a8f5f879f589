"""Domain limits: lengths, ranges and sizes that the schemas, the tables and the queries share."""

from __future__ import annotations

ACCOUNT_ID_MIN = 1
ACCOUNT_ID_MAX = 2**63 - 1
# E.164 allows at most 15 digits; fewer than 3 is no number anyone dials.
PHONE_NUMBER_MIN_DIGITS = 3
PHONE_NUMBER_MAX_DIGITS = 15
PHONE_NUMBER_LENGTH = PHONE_NUMBER_MAX_DIGITS + 1  # and the "+"
MESSAGE_ID_LENGTH = 36  # canonical UUID text
# Numbers stored before normalisation (adopted from the FastAPI service) are up to this long.
NUMBER_SPELLING_LENGTH = 255
MESSAGE_TEXT_MAX_LENGTH = 1600
IDEMPOTENCY_KEY_MAX_LENGTH = 255
SHA256_HEX_LENGTH = 64  # request hashes and token hashes
SEARCH_VALUES_MAX = 100
PAGE_SIZE_DEFAULT = 100
PAGE_SIZE_MAX = 1000
# Ids are BIGINT: nothing above this is an id (a forged cursor beyond it overflowed a query).
ID_MAX = 2**63 - 1
SEARCH_TEXT_MAX_LENGTH = 200
SEARCH_TEXT_MAX_WORDS = 10
BATCH_SIZE_MAX = 1000
