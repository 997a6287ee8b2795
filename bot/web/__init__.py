"""The web pages: login (WeCom OAuth2, web login by scan, one-time links), the sidebar, the admin console.

Server-rendered Jinja2 (autoescaped) with a little plain JS; static files ship in this package, so
pages load nothing from a CDN. Sessions are cookies signed with GROUPBOT_WEB_SECRET; without it the
pages answer 503 and say so (the WeCom callbacks keep working).
"""

from __future__ import annotations

import os
from datetime import timedelta

from flask import Flask

from bot.config.web import SECRET_ENV
from bot.services import Services
from bot.web import auth, console, sidebar


def init_app(app: Flask, services: Services, *, secret: str | None = None) -> None:
    """Register the login and sidebar pages on `app`."""
    config = services.config()
    key = secret if secret is not None else os.environ.get(SECRET_ENV, "")
    app.secret_key = key or None
    app.config.update(
        SESSION_COOKIE_NAME="groupbot_session",
        SESSION_COOKIE_HTTPONLY=True,
        # Lax: the OAuth redirect back from WeCom is a top-level GET, which still carries the cookie.
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.web.public_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=config.web.session_hours),
    )
    app.register_blueprint(auth.blueprint)
    app.register_blueprint(sidebar.blueprint)
    app.register_blueprint(console.blueprint)
