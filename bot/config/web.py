"""The `web:` settings: the pages guides open in WeCom (chat toolbar) and how content waits for them."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from bot.config.base import Strict

# The environment variable holding the key that signs session cookies (never in the YAML file).
SECRET_ENV = "GROUPBOT_WEB_SECRET"
# The environment variable holding the bearer token that opens /metrics from anywhere (optional).
METRICS_TOKEN_ENV = "GROUPBOT_METRICS_TOKEN"


class MetricsConfig(Strict):
    enabled: bool = True
    # Addresses that may read /metrics without a token (the peer address; X-Forwarded-For is not trusted).
    allow: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])

    @field_validator("allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an address or network such as 10.0.0.0/8") from None
        return value


class WebConfig(Strict):
    # The https address WeCom opens (the app's 可信域名); OAuth redirects and JS-SDK signatures use it.
    public_url: str = ""
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # How long customer-group content waits for the guide's sidebar before it becomes a customer task.
    sidebar_grace_minutes: float = Field(default=60.0, ge=0, le=24 * 60)
    # At most one "content is waiting" app message per guide in this many minutes.
    notify_every_minutes: float = Field(default=60.0, gt=0, le=24 * 60)
    login_link_minutes: float = Field(default=10.0, gt=0, le=24 * 60)
    # Who may read /metrics: loopback by default; a token in GROUPBOT_METRICS_TOKEN opens it from anywhere.
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)

    @field_validator("public_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("public_url must start with https:// (or http:// for local use)")
        return value
