"""The Flask webhook receiver: `gunicorn 'webhook:create_app()'`, `flask --app webhook run`."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException

from models.db import make_engine
from settings import Settings, settings_or_exit
from webhook.views import Deps, bp
from worker import composition
from worker.celery_app import make_celery
from worker.inbox.publish import Publisher
from worker.observability.logs import configure_logging, settings_secrets
from worker.observability.metrics import make_registry

log = logging.getLogger("webhook")

#: The exit code with which a gunicorn worker makes the master stop instead of respawning it.
GUNICORN_APP_LOAD_ERROR = 4


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    *,
    publisher: Publisher | None = None,
    configure_logs: bool = True,
) -> Flask:
    """The receiver; arguments default to the process settings, engine and broker."""
    custom = settings is not None
    settings = settings or settings_or_exit(GUNICORN_APP_LOAD_ERROR)
    engine = engine or receiver_engine(settings.database_url)
    if publisher is None:
        publisher = Publisher(make_celery(settings)) if custom else composition.publisher()
    publisher.prepare()
    if configure_logs:
        configure_logging(secrets=settings_secrets(settings))
    app = Flask(__name__, static_folder=None)
    # Werkzeug also enforces this on chunked bodies while they are read.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_webhook_bytes
    app.extensions["catalog_sync"] = Deps(settings, engine, publisher, make_registry(engine))
    app.register_blueprint(bp)
    app.register_error_handler(Exception, _error)
    return app


def receiver_engine(url: str) -> Engine:
    """The receiver must answer GitHub in time: on PostgreSQL its connections never wait long
    on a lock or a statement (it answers 503 instead, and GitHub shows the delivery failed).

    No pre-ping (a round trip per request): the inbox, `/health` and `/metrics` retry once
    on a connection that turns out dead (`models.db.retry_on_dead_connection`).
    """
    if url.startswith("postgresql"):
        options = "-c lock_timeout=2000 -c statement_timeout=5000"
        return make_engine(url, pool_pre_ping=False, connect_args={"options": options})
    return make_engine(url)


def _error(exc: Exception) -> tuple[Response, int]:
    """JSON for every error; an unexpected one is logged (redacted) and is a bug, not input."""
    if isinstance(exc, HTTPException):
        code = exc.code or 500
        return jsonify(status="error", reason=exc.name.lower().replace(" ", "_")), code
    log.error(
        "webhook.unhandled_error",
        exc_info=exc,
        extra={"method": request.method, "path": request.path, "error_type": type(exc).__name__},
    )
    return jsonify(status="error", reason="internal"), 500
