"""The service's clock: naive UTC, the form every stored time takes."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Current time as naive UTC, the form the ``created_at`` columns keep."""
    return datetime.now(UTC).replace(tzinfo=None)
