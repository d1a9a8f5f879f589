"""messaging: a Flask service that stores SMS-style messages for accounts and finds them again."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.engine import make_url

from messaging.auth import warn_when_disabled
from messaging.commands import register_commands
from messaging.config import SQLITE_FILENAME, engine_options, settings_from_env
from messaging.connections import watch_connections
from messaging.errors import register_error_handlers
from messaging.extensions import api, db, migrate
from messaging.json_provider import OrjsonProvider
from messaging.logs import configure_logging, register_request_logging
from messaging.metrics import init_metrics
from messaging.openapi import (
    API_SETTINGS,
    configure_openapi,
    register_openapi_components,
    register_swagger_ui_assets,
)
from messaging.routes import health, messages, metrics

MIGRATIONS_DIRECTORY = Path(__file__).resolve().parent.parent / "migrations"


class Application(Flask):
    """Flask, with a quicker answer to whether a hook or view is a coroutine function."""

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        # Flask asks this of every hook and view on every request, through inspect's general
        # checks; for a plain function (or method) its code's flags answer it in one look.
        code = getattr(func, "__code__", None)
        if (
            code is not None
            and not code.co_flags & inspect.CO_COROUTINE
            and not hasattr(func, "_is_coroutine_marker")  # inspect.markcoroutinefunction
        ):
            return func
        return super().ensure_sync(func)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: config → logging → extensions → blueprints → errors → commands.

    ``config`` overrides what the environment says (tests pass their database here).
    """
    app = Application(__name__, instance_relative_config=True, static_folder=None)
    app.json = OrjsonProvider(app)
    app.config.from_mapping(API_SETTINGS)
    app.config.from_mapping(settings_from_env())
    app.config.from_mapping(config or {})
    configure_database(app)
    configure_logging(app)
    warn_when_disabled(app)
    register_extensions(app)
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
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    db.init_app(app)
    with app.app_context():
        watch_connections(db.engine)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIRECTORY))
    configure_openapi(app)
    api.init_app(app)
    register_openapi_components(api)
    register_swagger_ui_assets(app)
    init_metrics(app)
    register_request_logging(app)


def register_blueprints(app: Flask) -> None:
    for blueprint in (health.blp, metrics.blp, messages.blp):
        api.register_blueprint(blueprint)
