"""One WeCom send ends well before another drainer may reclaim its row, so a slow WeCom cannot cause a resend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import FrozenClock
from bot.config.core import Config, OutboxConfig
from bot.config.loader import ConfigError
from bot.transports.drainer import drain_once
from bot.transports.wecom import WecomTransport
from models import OutboxMessage
from models import outbox as outbox_rows
from tests.bot.transports.conftest import wecom_config
from tests.factories import load_config
from tests.fake_wecom import FakeWecom


def with_reclaim_after(config: Config, seconds: float) -> Config:
    return config.model_copy(update={"outbox": config.outbox.model_copy(update={"reclaim_after_seconds": seconds})})


def test_send_that_would_outlast_its_share_of_reclaim_after_stops_before_posting(
    fake_wecom: FakeWecom, factory: sessionmaker[Session], clock: FrozenClock, make_wecom: Callable[..., WecomTransport]
) -> None:
    """With reclaim_after 2.5 s a send may take 1 s: after a 0.6 s gettoken there is no time left for a post
    that could still be in flight when another drainer takes the row, so none is made and the row is retried."""
    config = with_reclaim_after(wecom_config(fake_wecom, timeout_seconds=5), 2.5)
    settings = OutboxConfig(reclaim_after_seconds=2.5, max_attempts=3)
    fake_wecom.fail_next("gettoken", delay=0.6)  # slow, but within every timeout
    with factory.begin() as session:
        row_id = outbox_rows.add_message(
            session,
            channel="app_message",
            target_kind="user",
            target="zhangsan",
            payload={"msgtype": "text", "content": "你好", "mentions": []},
            now=clock.now(),
        ).id

    assert drain_once(factory, make_wecom(config), settings, clock).retried == 1
    assert len(fake_wecom.calls_to("gettoken")) == 1
    assert fake_wecom.calls_to("message/send") == []
    with factory() as session:
        row = session.get(OutboxMessage, row_id)
        assert row is not None and row.status == "pending"
        assert row.last_error is not None and "gave up before posting to message/send" in row.last_error
        assert "outbox.reclaim_after_seconds" in row.last_error


CONFIG = """\
wecom: {corp_id: ww1, secret: s, agent_id: "1000002"}
outbound:
  timeout_seconds: 10
outbox:
  transport: wecom
  reclaim_after_seconds: RECLAIM
"""


def test_config_refuses_reclaim_after_too_short_for_one_send_at_its_line(tmp_path: Path) -> None:
    """reclaim_after 20 s with a 10 s timeout leaves a send 8 s: refused, at the key's line, saying what to set."""
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.replace("RECLAIM", "20"), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    (problem,) = raised.value.problems
    assert (problem.path, problem.line) == ("outbox.reclaim_after_seconds", 6)
    assert "set it to at least 50" in problem.message

    path.write_text(CONFIG.replace("RECLAIM", "120"), encoding="utf-8")  # the default fits
    assert load_config(path, environ={}).outbox.reclaim_after_seconds == 120
