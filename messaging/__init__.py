"""messaging: a Flask service that stores SMS-style messages for accounts and finds them again.

``create_app`` is the factory; each step below does what its name says.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.engine import make_url

from messaging.commands import register_commands
from messaging.config import SQLITE_FILENAME, engine_options, settings_from_env
from messaging.connections import close_connections_quietly, watch_connections
from messaging.errors import register_error_handlers
from messaging.extensions import api, db, migrate
from messaging.galera import wait_for_cluster_on_connect
from messaging.json_provider import configure_json
from messaging.logs import configure_logging
from messaging.metrics import init_metrics
from messaging.openapi import configure_openapi, register_openapi_components
from messaging.request_log import register_request_logging
from messaging.routes import docs, health, messages, metrics
from messaging.tracing import init_tracing
from messaging.version import __version__

__all__ = ["__version__", "create_app"]

MIGRATIONS_DIRECTORY = Path(__file__).resolve().parent.parent / "migrations"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: config → logging → extensions → blueprints → errors → commands.

    ``config`` overrides what the environment says (tests pass their database here).
    """
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    app.config.from_mapping(settings_from_env())
    app.config.from_mapping(config or {})
    configure_database(app)
    configure_openapi(app)
    configure_json(app)
    configure_logging(app)
    register_extensions(app)
    register_request_logging(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    return app


def configure_database(app: Flask) -> None:
    """Default to an SQLite file in the instance folder; tune the pool for the backend."""
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = (
            f"sqlite:///{Path(app.instance_path, SQLITE_FILENAME)}"
        )
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(url))


def register_extensions(app: Flask) -> None:
    """Bind db (its connections watched, each request's closed without raising; read-your-writes
    on a Galera node), migrate, the API with its document parts, metrics, and traces when they
    are asked for."""
    db.init_app(app)
    close_connections_quietly(app)
    with app.app_context():
        watch_connections(db.engine)
        wait_for_cluster_on_connect(db.engine, app.config.get("DB_SYNC_WAIT"))
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIRECTORY))
    api.init_app(app)
    register_openapi_components(api)
    init_metrics(app)
    init_tracing(app)


def register_blueprints(app: Flask) -> None:
    """The API's blueprints (documented) and the Swagger UI assets (not)."""
    for blueprint in (health.blp, metrics.blp, messages.blp):
        api.register_blueprint(blueprint)
    app.register_blueprint(docs.blp)
