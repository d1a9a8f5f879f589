"""Swagger UI's scripts and styles for ``/docs``, served from the installed package, not a CDN."""

from __future__ import annotations

from flask import Blueprint, Response, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from messaging.openapi import SWAGGER_UI_ASSETS_URL

blp = Blueprint("swagger_ui_assets", __name__)


@blp.get(f"{SWAGGER_UI_ASSETS_URL}<path:filename>")
def swagger_ui_asset(filename: str) -> Response:
    """A file of the bundled Swagger UI (scripts, styles)."""
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
