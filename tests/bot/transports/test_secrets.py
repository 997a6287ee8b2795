"""Secrets in URLs (webhook key, access token, app secret) never reach outbox.last_error or the log."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import FrozenClock
from bot.config.core import Config, OutboxConfig
from bot.transports.base import redact
from bot.transports.drainer import drain_once
from bot.transports.wecom import WecomTransport
from models import OutboxMessage
from tests.bot.transports.conftest import WEBHOOK_KEY, queue_message, wecom_config
from tests.fake_wecom import SECRET, FakeWecom

SETTINGS = OutboxConfig(batch_size=50, max_attempts=3)


def last_error(factory: sessionmaker[Session], row_id: int) -> str:
    with factory() as session:
        found = session.get(OutboxMessage, row_id)
        assert found is not None and found.last_error
        return found.last_error


def dead_base_url() -> str:
    """A 127.0.0.1 URL where nothing listens, so every request fails to connect."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def pointed_at(config: Config, api_base: str) -> Config:
    return config.model_copy(update={"wecom": config.wecom.model_copy(update={"api_base": api_base})})


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # urllib3 logs every request URL at DEBUG
    return caplog


def test_webhook_502_keeps_the_robot_key_out_of_the_error_and_the_log(
    fake_wecom: FakeWecom,
    factory: sessionmaker[Session],
    clock: FrozenClock,
    make_wecom: Callable[..., WecomTransport],
    logs: pytest.LogCaptureFixture,
) -> None:
    """A 502 from the webhook is retried; what it says names the status but not the key in the URL."""
    fake_wecom.fail_next("webhook/send", http_status=502)
    row_id = queue_message(factory, clock, "group", "wr-internal")
    assert drain_once(factory, make_wecom(), SETTINGS, clock).retried == 1

    error = last_error(factory, row_id)
    assert "HTTP 502" in error and "key=***" in error
    assert WEBHOOK_KEY not in error
    assert WEBHOOK_KEY not in logs.text
    assert "webhook/send" in logs.text  # the log did record the request, only without its key


def test_connection_error_on_message_send_keeps_the_token_out(
    fake_wecom: FakeWecom,
    factory: sessionmaker[Session],
    clock: FrozenClock,
    make_wecom: Callable[..., WecomTransport],
    logs: pytest.LogCaptureFixture,
) -> None:
    """With a shared token already stored, a refused connection on message/send does not reveal that token."""
    queue_message(factory, clock, "app_message", "zhangsan")
    assert drain_once(factory, make_wecom(), SETTINGS, clock).sent == 1  # stores token-1 for every process
    logs.clear()
    row_id = queue_message(factory, clock, "app_message", "zhangsan")
    broken = make_wecom(pointed_at(wecom_config(fake_wecom), dead_base_url()))
    assert drain_once(factory, broken, SETTINGS, clock).retried == 1

    error = last_error(factory, row_id)
    assert "ConnectionError talking to WeCom" in error
    assert "access_token=***" in error
    assert "token-1" not in error
    assert "token-1" not in logs.text


@pytest.mark.parametrize("how", ["http_500", "refused"])
def test_failing_gettoken_keeps_the_app_secret_out(
    how: str,
    fake_wecom: FakeWecom,
    factory: sessionmaker[Session],
    clock: FrozenClock,
    make_wecom: Callable[..., WecomTransport],
    logs: pytest.LogCaptureFixture,
) -> None:
    """gettoken failing by HTTP status or refused connection leaves corpsecret out of the error and the log."""
    config = wecom_config(fake_wecom)
    if how == "http_500":
        fake_wecom.fail_next("gettoken", http_status=500)
    else:
        config = pointed_at(config, dead_base_url())
    row_id = queue_message(factory, clock, "app_message", "zhangsan")
    assert drain_once(factory, make_wecom(config), SETTINGS, clock).retried == 1

    error = last_error(factory, row_id)
    assert "corpsecret=***" in error
    assert SECRET not in error
    assert SECRET not in logs.text


def test_redact_leaves_harmless_parameters_alone() -> None:
    """Only secret-bearing parameters are masked; the rest of a URL stays readable for the operator."""
    url = "http://h/cgi-bin/gettoken?corpid=ww1&corpsecret=s3cr3t&monkey=1&key=k&debug=1"
    assert redact(url) == "http://h/cgi-bin/gettoken?corpid=ww1&corpsecret=***&monkey=1&key=***&debug=1"
