"""A sidebar world: the app with its web pages on 127.0.0.1, the fake WeCom behind it, two guides' groups."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.engine import Engine

from bot.app import create_app
from bot.clock import FrozenClock
from bot.config.web import SECRET_ENV
from bot.services import Services, build_services
from tests.browser import LiveServer, WwContext, free_port, install_stub
from tests.conftest import base_config, write_yaml
from tests.factories import load_handlers
from tests.fake_wecom import CORP_ID, SECRET, FakeWecom, start_fake_wecom
from tests.handlers.quiz.chat import QUIZ

SHOP = "wrShop01"  # guide01's customer group
OTHER = "wrShop02"  # guide02's customer group
SECRET_KEY = "test-web-secret-0123456789abcdef"


@dataclass
class Web:
    services: Services
    app: Flask
    url: str
    fake: FakeWecom
    clock: FrozenClock
    ww: WwContext


@pytest.fixture
def fake_wecom() -> Iterator[FakeWecom]:
    fake, server, thread = start_fake_wecom()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(5)


def web_config(database_url: str, url: str, api_base: str) -> dict[str, Any]:
    data = base_config(database_url)
    data["wecom"].update({"corp_id": CORP_ID, "secret": SECRET, "api_base": api_base})
    data["roles"] = {"admins": ["boss"], "guides": ["guide01", "guide02"]}
    data["web"] = {"public_url": url, "sidebar_grace_minutes": 30}
    data["quiz"] = QUIZ
    # The console lists each group's next 7 days of the content calendar.
    data["calendar"] = [
        {
            "id": "daily-new",
            "when": {"time": "20:00"},
            "to": {"groups": [SHOP]},
            "content": {"text": "今晚上新：{date}"},
        }
    ]
    data["groups"] = [
        {"chat_id": SHOP, "name": "福利群", "kind": "customer", "guide": "guide01", "push": "customer_task"},
        {"chat_id": OTHER, "name": "二店福利群", "kind": "customer", "guide": "guide02", "push": "customer_task"},
    ]
    return data


@pytest.fixture
def web(
    tmp_path: Path, engine: Engine, database_url: str, clock: FrozenClock, fake_wecom: FakeWecom, monkeypatch
) -> Iterator[Web]:  # type: ignore[no-untyped-def]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    path = write_yaml(tmp_path / "config.yaml", web_config(database_url, url, fake_wecom.base_url))
    services = build_services(str(path), registry=load_handlers(), clock=clock, engine=engine)
    monkeypatch.setenv(SECRET_ENV, SECRET_KEY)
    app = create_app(services)
    ww = WwContext(chatId=SHOP)
    install_stub(app, ww)
    server = LiveServer(app, port)
    try:
        yield Web(services, app, url, fake_wecom, clock, ww)
    finally:
        server.close()
