"""Serve /metrics and time every WeCom callback: a request id, a counter by outcome, one log line each."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
import time
import uuid
from typing import cast

from flask import Flask, Response, abort, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.config.web import METRICS_TOKEN_ENV
from bot.services import Services
from bot.telemetry import context
from bot.telemetry.metrics import CALLBACKS, DatabaseCollector, exposition_registry

log = logging.getLogger("groupbot.callback")
CHANNELS = {"/wecom/callback": "app", "/wecom/aibot": "aibot"}
# A caller's request id is kept when it is short and plain; otherwise the service makes one.
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
OUTCOMES = {400: "malformed", 403: "refused", 413: "too_large", 503: "not_configured"}


def init_app(app: Flask, services: Services) -> None:
    """Add /metrics and the per-callback record to `app`."""
    collector = DatabaseCollector(services.session_factory, services.config, services.clock.now)

    @app.before_request
    def _open_record() -> None:
        channel = _channel(request.path)
        if channel is None:
            return
        given = request.headers.get("X-Request-Id", "")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        context.CURRENT.set(context.CallbackRecord(request_id=request_id, channel=channel))

    @app.after_request
    def _close_record(response: Response) -> Response:
        record = context.current()
        if record is None:
            return response
        context.CURRENT.set(None)
        response.headers["X-Request-Id"] = record.request_id
        outcome = record.outcome or _outcome(request.method, response.status_code)
        CALLBACKS.labels(record.channel, outcome).inc()
        duration_ms = round((time.monotonic() - record.started) * 1000, 1)
        fields = {
            "request_id": record.request_id,
            "channel": record.channel,
            "dedup_key": record.dedup_key,
            "chat_id": record.chat_id,
            "user_id": record.user_id,
            "outcome": outcome,
            "status": response.status_code,
            "duration_ms": duration_ms,
        }
        log.info(
            "callback %s %s %s in %.1f ms key=%s chat=%s user=%s",
            record.channel,
            outcome,
            response.status_code,
            duration_ms,
            record.dedup_key or "-",
            record.chat_id or "-",
            record.user_id or "-",
            extra=fields,
        )
        return response

    @app.teardown_request
    def _drop_record(_exc: BaseException | None) -> None:
        record = context.current()
        if record is not None:  # the handler raised: after_request never ran
            CALLBACKS.labels(record.channel, "error").inc()
            log.error("callback %s error", record.channel, extra={"request_id": record.request_id, "outcome": "error"})
            context.CURRENT.set(None)

    @app.get("/metrics")
    def metrics() -> Response:
        settings = services.config().web.metrics
        if not settings.enabled:
            abort(404)
        if not _allowed(settings.allow):
            abort(403)
        body = generate_latest(exposition_registry([collector]))
        return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0], headers={"Content-Type": CONTENT_TYPE_LATEST})


def _channel(path: str) -> str | None:
    return CHANNELS.get(path) or (path.removeprefix("/wecom/").split("/")[0] if path.startswith("/wecom/") else None)


def _outcome(method: str, status: int) -> str:
    if status == 200:
        return "verify" if method == "GET" else "ignored"
    return OUTCOMES.get(status, "error")


def _allowed(networks: list[str]) -> bool:
    token = os.environ.get(METRICS_TOKEN_ENV, "")
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        peer = ipaddress.ip_address(cast(str, request.remote_addr))
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(net, strict=False) for net in networks)
