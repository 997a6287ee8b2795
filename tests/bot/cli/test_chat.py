"""`groupbot chat` tells the truth: what each line does, when queued messages leave, and by which route."""

from __future__ import annotations

import re
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


@pytest.fixture
def routes(make_services: Callable[..., Services], tmp_path: Path) -> Callable[..., list[str]]:
    """Customer groups of each `delivery`, an internal group, a keyword that calls the guide."""
    customer = {"kind": "customer", "guide": "guide01", "push": "customer_task"}
    config: dict[str, Any] = {
        **base_config(),
        "web": {"sidebar_grace_minutes": 30},
        "groups": [
            {"chat_id": GROUP, "name": "一号群", "guide": "guide01"},
            {"chat_id": "wrsidebar01", "name": "侧边栏群", **customer, "delivery": "sidebar"},
            {"chat_id": "wrtask01", "name": "任务群", **customer, "delivery": "task"},
            {"chat_id": "wrboth01", "name": "先侧边栏群", **customer, "delivery": "sidebar_then_task"},
        ],
        "keywords": [
            {"match": ["发货"], "reply": "48小时内发货"},
            {"match": ["售后"], "reply": "已通知导购", "notify_guide": True},
        ],
    }
    services = make_services(write_yaml(tmp_path / "routes.yaml", config))

    def run(*lines: str, group: str | None = GROUP, user: str = "lisi") -> list[str]:
        out: list[str] = []
        run_chat(services, group=group, user=user, lines=[f"{line}\n" for line in lines], write=out.append)
        return out[1:]

    return run


@pytest.mark.parametrize(
    ("group", "route"),
    [
        ("wrsidebar01", "(客户群内容，在导购 guide01 的侧边栏等 TA 一键发出) → 侧边栏群: "),
        ("wrtask01", "(客户群任务，需导购 guide01 在企业微信确认后发出) → 任务群: "),
        ("wrboth01", "(先在导购 guide01 的侧边栏等 TA 发出，30 分钟内未发则转为客户群任务，需 TA 确认) → 先侧边栏群: "),
    ],
)
def test_a_customer_group_row_says_how_its_delivery_sends_it(
    routes: Callable[..., list[str]], group: str, route: str
) -> None:
    out = routes("/join 小王", group=group)
    queued = [line for line in out if line.startswith("(") and "→" in line]
    assert len(queued) == 1, out
    # 「(已排队，HH:MM 发出 #id 」 or 「(待发送 #id 」, then the route and the group's name, never its chat id.
    assert re.match(r"\((已排队，\d\d:\d\d 发出|待发送) #\d+ ", queued[0]) and f" {route[1:]}" in queued[0], queued[0]
    assert "小王" in queued[0] and group not in queued[0]


def test_an_app_message_to_the_guide_says_so(routes: Callable[..., list[str]]) -> None:
    out = routes("售后")
    assert out[0] == "机器人> 已通知导购"
    to_guide = [line for line in out if "应用消息发给 guide01" in line]
    assert len(to_guide) == 1 and "→ guide01:" in to_guide[0], out


def test_a_rehearsed_customer_is_answered_through_kf_by_name_never_by_id(routes: Callable[..., list[str]]) -> None:
    out = routes("/customer 小王", "发货", "/user guide01", group="wrtask01")
    shown = "\n".join(out)
    assert out[0].startswith("(现在以客户「小王」的身份在微信客服里发言，所在群「任务群」"), out
    kf = [line for line in out if "微信客服发给客户（客户最后发言后 48 小时内，最多 5 条）" in line]
    assert len(kf) == 1 and kf[0].endswith("→ 小王: 48小时内发货"), out
    assert "wm" not in shown
    assert out[-1] == "(现在以 guide01 的身份发言，角色：guide)"
    assert routes("/customer")[0] == "(用法：/customer 名字，例如 /customer 小王)"
