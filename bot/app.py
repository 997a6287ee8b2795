"""The Flask app factory: callback blueprints, health check. It never starts a scheduler or a drainer."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from sqlalchemy import text
from werkzeug.exceptions import RequestEntityTooLarge

from bot.inbound import aibot_callback, app_callback
from bot.inbound.common import MAX_BODY_BYTES
from bot.services import Services
from bot.telemetry.web import init_app as init_telemetry
from bot.web import init_app as init_web

log = logging.getLogger(__name__)


def create_app(services: Services) -> Flask:
    """Build the WSGI app around already-wired services."""
    app = Flask("groupbot")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["groupbot"] = services
    app.register_blueprint(app_callback.blueprint)
    app.register_blueprint(aibot_callback.blueprint)
    init_web(app, services)
    init_telemetry(app, services)

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        config = services.config()
        try:
            with services.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            database = "ok"
        except Exception as exc:  # the health check reports, it does not crash
            log.error("health check: database unreachable: %s", exc)
            database = "unreachable"
        body = {
            "status": "ok" if database == "ok" else "degraded",
            "database": database,
            "channels": {
                "app": "ready" if config.wecom.callback_ready else "not configured",
                "aibot": "ready" if config.aibot.callback_ready else "not configured",
            },
            "config": str(services.holder.path),
            "config_error": str(services.holder.last_error) if services.holder.last_error else None,
            "config_held": services.holder.held.describe() if services.holder.held else None,
        }
        return jsonify(body), 200 if database == "ok" else 503

    @app.get("/")
    def index() -> tuple[str, int, dict[str, str]]:
        # A short page instead of a 404 for whoever opens the port; the web console adds its own pages.
        page = (
            "<!doctype html><meta charset=utf-8><title>groupbot</title>"
            "<h1>wecom-groupbot</h1><ul>"
            '<li><a href="/healthz">/healthz</a> — health (database, channels, config)</li>'
            "<li>Documentation: README.md in the distribution (chat and CLI commands, every config key)</li>"
            "<li>/wecom/callback, /wecom/aibot — WeCom callback URLs (POST from WeCom only)</li>"
            "</ul>"
        )
        return page, 200, {"Content-Type": "text/html; charset=utf-8"}

    @app.errorhandler(413)
    def too_large(_exc: RequestEntityTooLarge) -> tuple[str, int, dict[str, str]]:
        return "request body larger than 64 KiB", 413, {"Content-Type": "text/plain"}

    return app
