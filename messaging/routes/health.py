"""Liveness: answers while the process serves, without touching the database."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("health", __name__, description="Is the service up?")


@blp.get("/health")
def health() -> dict[str, str]:
    """Liveness: 200 while the process serves; no database call."""
    return {"status": "ok"}
