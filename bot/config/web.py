"""The `web:` settings: the pages guides open in WeCom (chat toolbar) and how content waits for them."""

from __future__ import annotations

from pydantic import Field, field_validator

from bot.config.base import Strict

# The environment variable holding the key that signs session cookies (never in the YAML file).
SECRET_ENV = "GROUPBOT_WEB_SECRET"


class WebConfig(Strict):
    # The https address WeCom opens (the app's 可信域名); OAuth redirects and JS-SDK signatures use it.
    public_url: str = ""
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # How long customer-group content waits for the guide's sidebar before it becomes a customer task.
    sidebar_grace_minutes: float = Field(default=60.0, ge=0, le=24 * 60)
    # At most one "content is waiting" app message per guide in this many minutes.
    notify_every_minutes: float = Field(default=60.0, gt=0, le=24 * 60)
    login_link_minutes: float = Field(default=10.0, gt=0, le=24 * 60)

    @field_validator("public_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("public_url must start with https:// (or http:// for local use)")
        return value
