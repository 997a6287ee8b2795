"""`groupbot chat` tells the truth: what each line does, when queued messages leave, and by which route."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.cli.chat import run_chat
from bot.clock import FrozenClock
from bot.services import Services
from tests.conftest import base_config, write_yaml

GROUP = "wrgroup0001"
CUSTOMER = "wrcustomer01"


@pytest.fixture
def rehearse(make_services: Callable[..., Services], tmp_path: Path, clock: FrozenClock) -> Callable[..., list[str]]:
    config: dict[str, Any] = {
        **base_config(),
        "groups": [
            {"chat_id": GROUP, "name": "一号群", "guide": "guide01"},
            {
                "chat_id": CUSTOMER,
                "name": "福田客户群",
                "kind": "customer",
                "guide": "guide01",
                "push": "customer_task",
            },
        ],
        "keywords": [{"match": ["发货"], "reply": "48小时内发货"}],
    }
    services = make_services(write_yaml(tmp_path / "chat.yaml", config))

    def run(*lines: str, group: str | None = GROUP, user: str = "lisi") -> list[str]:
        out: list[str] = []
        run_chat(services, group=group, user=user, lines=[f"{line}\n" for line in lines], write=out.append)
        return out[1:]  # after the help line

    return run


def test_user_without_a_name_explains_instead_of_crashing(rehearse: Callable[..., list[str]]) -> None:
    out = rehearse("/user", "/user   ", "发货")
    assert out[0].startswith("(用法：/user 名字") and out[1].startswith("(用法")
    assert out[2] == "机器人> 48小时内发货"


def test_dm_switches_to_one_to_one_and_group_back(rehearse: Callable[..., list[str]]) -> None:
    out = rehearse("/dm", "发货", "/group", "/nonsense")
    assert out[0] == "(现在是 lisi 与机器人的私聊)"
    assert out[1] == "机器人> 48小时内发货"
    assert out[2] == f"(现在在群 {GROUP} 里发言)"
    assert out[3].startswith("(不认识 /nonsense")


def test_join_rehearses_the_welcome_of_a_customer_group_as_a_task(rehearse: Callable[..., list[str]]) -> None:
    out = rehearse("/join 小王 小李", group=CUSTOMER)
    shown = "\n".join(out)
    # WeCom lets no bot post in a customer group: the welcome goes out as a task the guide confirms.
    assert "客户群任务" in shown and "guide01" in shown and "小王" in shown, shown
    assert "wm" not in shown
    assert rehearse("/join")[0].startswith("(用法：在群聊里 /join")


def test_quiet_hours_show_when_a_push_leaves(rehearse: Callable[..., list[str]], clock: FrozenClock) -> None:
    clock.set(datetime(2026, 11, 22, 15, 0, tzinfo=UTC))  # 23:00 in Shanghai: inside the default 22:00–08:00
    out = rehearse("开团 草莓 价格=10 名额=5 截止=2小时 群=福田客户群", group=None, user="guide01")
    queued = [line for line in out if line.startswith("(")]
    assert queued and all(line.startswith("(已排队，08:00 发出") for line in queued), out
    assert "开团成功" in out[0]
