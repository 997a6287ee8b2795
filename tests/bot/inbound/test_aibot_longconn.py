"""aibot.mode: websocket against a fake of WeCom's long-connection server: subscribe, message → stream frame,
enter_chat → welcome frame, pushes within the per-chat limit, the disconnect event, a standby taking over."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from websockets.sync.client import connect

from bot.clock import FrozenClock
from bot.inbound.aibot_longconn import LEASE_NAME, AibotLongConnection
from bot.services import Services
from bot.transports.drainer import drain_once
from bot.transports.wecom import build_wecom_transport
from models import SchedulerLease
from models.db import make_session_factory
from scheduler.leader import Leadership
from tests.bot.test_serve import wait_until
from tests.conftest import base_config, write_yaml
from tests.fake_aibot_ws import BOT_ID, BOT_SECRET, FakeAibotServer, start_fake_aibot
from tests.fake_wecom import CORP_ID, SECRET, start_fake_wecom
from tests.scheduler.test_processes import Child, children  # noqa: F401  (the fixture)

LEASE_SECONDS = 3


@pytest.fixture
def fake_ws() -> Iterator[FakeAibotServer]:
    fake = start_fake_aibot()
    try:
        yield fake
    finally:
        fake.stop()


def ws_config(database_url: str, url: str, **aibot: Any) -> dict[str, Any]:
    data = base_config(database_url)
    data["aibot"] = {
        "mode": "websocket",
        "bot_id": BOT_ID,
        "secret": BOT_SECRET,
        "ws_url": url,
        "lease_seconds": LEASE_SECONDS,
        "replaced_wait_seconds": 60,
        **aibot,
    }
    data["groups"] = [{"chat_id": "wr-internal", "name": "内部群", "push": "aibot"}]
    data["outbound"] = {"quiet_hours": {"enabled": False}, "limits": {"aibot_per_minute": 5}}
    return data


def holder(services: Services) -> AibotLongConnection:
    lease = Leadership(
        services.session_factory,
        services.config,
        services.clock,
        name=LEASE_NAME,
        lease_seconds=lambda: services.config().aibot.lease_seconds,
    )
    return AibotLongConnection(services, lease)


@pytest.fixture
def held(
    tmp_path: Path, database_url: str, make_services: Callable[..., Services], fake_ws: FakeAibotServer
) -> Iterator[tuple[Services, AibotLongConnection]]:
    services = make_services(write_yaml(tmp_path / "ws.yaml", ws_config(database_url, fake_ws.url)))
    conn = holder(services)
    conn.start()
    try:
        fake_ws.wait_subscribed()
        yield services, conn
    finally:
        conn.stop()


def test_subscribes_with_bot_id_and_secret_and_answers_a_message_with_a_stream_frame(
    held: tuple[Services, AibotLongConnection], fake_ws: FakeAibotServer
) -> None:
    services, _ = held
    (subscribe,) = fake_ws.sent("aibot_subscribe")
    assert subscribe["body"] == {"bot_id": BOT_ID, "secret": BOT_SECRET} and subscribe["headers"]["req_id"]
    rid = fake_ws.message("帮助")
    (answer,) = fake_ws.wait_for("aibot_respond_msg")
    assert answer["headers"]["req_id"] == rid  # the answer names the callback it answers
    stream = answer["body"]["stream"]
    assert answer["body"]["msgtype"] == "stream" and stream["finish"] is True
    assert services.config().texts.render("help_header") in stream["content"]


def test_enter_chat_is_answered_with_the_welcome_frame(
    held: tuple[Services, AibotLongConnection], fake_ws: FakeAibotServer
) -> None:
    services, _ = held
    rid = fake_ws.event("enter_chat")
    (answer,) = fake_ws.wait_for("aibot_respond_welcome_msg")
    assert answer["headers"]["req_id"] == rid and answer["body"]["msgtype"] == "text"
    assert answer["body"]["text"]["content"].startswith(services.config().texts.render("aibot_welcome"))


def test_push_reaches_the_group_as_markdown_within_the_per_chat_limit(
    held: tuple[Services, AibotLongConnection],
    fake_ws: FakeAibotServer,
    clock: FrozenClock,
    engine: Engine,
) -> None:
    """Seven pushes with aibot_per_minute 5: five go out as aibot_send_msg markdown, two wait for the next minute."""
    services, _ = held
    fake_api, server, _thread = start_fake_wecom()
    try:
        current = services.config().model_copy(
            update={
                "wecom": services.config().wecom.model_copy(
                    update={"corp_id": CORP_ID, "secret": SECRET, "api_base": fake_api.base_url}
                )
            }
        )
        transport = build_wecom_transport(lambda: current, services.session_factory, clock)
        from models import outbox as outbox_rows

        with services.session_factory.begin() as session:
            for n in range(7):
                payload = {"msgtype": "text", "content": f"第{n}条", "mentions": [], "purpose": "push"}
                outbox_rows.add_message(
                    session, channel="group", target_kind="chat", target="wr-internal", payload=payload, now=clock.now()
                )
        report = drain_once(services.session_factory, transport, current.outbox, clock)
        assert (report.sent, report.deferred) == (5, 2)
        pushed = fake_ws.wait_for("aibot_send_msg", 5)
        assert [f["body"]["markdown"]["content"] for f in pushed] == [f"第{n}条" for n in range(5)]
        assert {(f["body"]["chatid"], f["body"]["chat_type"], f["body"]["msgtype"]) for f in pushed} == {
            ("wr-internal", 2, "markdown")
        }
        clock.advance(minutes=1)
        assert drain_once(services.session_factory, transport, current.outbox, clock).sent == 2
    finally:
        server.shutdown()
        server.server_close()


def test_disconnect_event_means_another_holder_took_over_and_there_is_no_reconnect_storm(
    held: tuple[Services, AibotLongConnection], fake_ws: FakeAibotServer, engine: Engine
) -> None:
    """Another deployment subscribes with the same bot: ours gets disconnected_event, gives the lease back and
    stands by for replaced_wait_seconds instead of taking the bot back at once."""
    _, conn = held
    with connect(fake_ws.url) as other:
        other.send(
            json.dumps(
                {"cmd": "aibot_subscribe", "headers": {"req_id": "x"}, "body": {"bot_id": BOT_ID, "secret": BOT_SECRET}}
            )
        )
        assert json.loads(other.recv(timeout=5))["errcode"] == 0
        wait_until(lambda: conn.connection is None, "our connection to stand down", timeout=10)
        time.sleep(1.5)
        assert fake_ws.subscriptions == 2  # nobody reconnected
    with make_session_factory(engine)() as session:
        lease = session.scalars(select(SchedulerLease).where(SchedulerLease.name == LEASE_NAME)).first()
    assert lease is not None and lease.expires_at <= FrozenClock.now(conn._services.clock)  # type: ignore[arg-type]


def test_wrong_secret_is_refused_without_hammering(
    tmp_path: Path, database_url: str, make_services: Callable[..., Services], fake_ws: FakeAibotServer
) -> None:
    services = make_services(write_yaml(tmp_path / "bad.yaml", ws_config(database_url, fake_ws.url, secret="wrong")))
    conn = holder(services)
    conn.start()
    try:
        fake_ws.wait_for("aibot_subscribe")
        time.sleep(1)
        assert len(fake_ws.sent("aibot_subscribe")) == 1 and conn.connection is None
    finally:
        conn.stop()


def test_a_standby_process_takes_over_when_the_holder_is_killed(
    tmp_path: Path,
    database_url: str,
    engine: Engine,
    fake_ws: FakeAibotServer,
    children: list[Child],  # noqa: F811
) -> None:
    """Two `groupbot aibot` processes: one subscribes, the other stands by; SIGKILL the holder and the standby
    subscribes once the lease lapses."""
    config = write_yaml(tmp_path / "ws.yaml", ws_config(database_url, fake_ws.url))
    for _ in range(2):
        children.append(Child(["aibot", "--config", str(config)], tmp_path))
    fake_ws.wait_subscribed(1, timeout=30)
    time.sleep(2)
    assert fake_ws.subscriptions == 1  # the standby did not connect

    def lease_holder() -> int:
        with make_session_factory(engine)() as session:
            row = session.scalars(select(SchedulerLease).where(SchedulerLease.name == LEASE_NAME)).first()
        return int(row.holder.split(":")[1]) if row is not None else 0

    pids = {child.proc.pid: child for child in children}
    first = pids[lease_holder()]
    first.stop(signal.SIGKILL)
    fake_ws.wait_subscribed(2, timeout=LEASE_SECONDS + 15)
    standby = next(child for pid, child in pids.items() if child is not first)
    assert lease_holder() == standby.proc.pid
    assert standby.stop(signal.SIGTERM) == 0, standby.output()
