"""Message ids: UUID version 7, made here only."""

from __future__ import annotations

import os
import time
import uuid


def new_message_id() -> str:
    """A UUID version 7 (RFC 9562): time-ordered, so the unique index grows at its end."""
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return str(uuid.UUID(int=value))
