"""README's worked example, followed to the letter: a new package plus one line in the list is a working command."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.events import Event
from bot.registry import Registry
from bot.services import build_services
from handlers import CAPABILITIES
from tests.conftest import base_config, write_yaml

PACKAGE = {
    "__init__.py": """
        from bot.registry import Capability
        from weather_demo import commands

        CAPABILITY = Capability(name="weather", modules=(commands,), texts="weather_demo")
    """,
    "commands.py": """
        from bot.context import Context
        from bot.registry import command


        @command("天气", aliases=["weather"], role="member", examples=[("天气", "今天")])
        def weather(ctx: Context, args: str) -> str:
            \"\"\"看看今天适不适合来店里。\"\"\"
            return ctx.text("weather_today")
    """,
    "texts.yaml": """
        weather_today: "今天天气不错，欢迎来店里坐坐！"
    """,
}


@pytest.fixture
def weather_package(tmp_path: Path) -> Iterator[object]:
    root = tmp_path / "pkgs" / "weather_demo"
    root.mkdir(parents=True)
    for name, body in PACKAGE.items():
        (root / name).write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    sys.path.insert(0, str(root.parent))
    try:
        import weather_demo

        yield weather_demo.CAPABILITY
    finally:
        sys.path.remove(str(root.parent))
        for name in [m for m in sys.modules if m.startswith("weather_demo")]:
            del sys.modules[name]


def test_a_new_package_and_one_line_make_a_command_that_help_lists_and_texts_reword(
    weather_package: object, tmp_path: Path, engine: Engine, clock: FrozenClock
) -> None:
    registry = Registry.of((*CAPABILITIES, weather_package))  # type: ignore[arg-type]
    data = {
        **base_config(),
        "texts": {"weather_today": "下雨啦，来店里躲躲雨～"},
        "commands": {"天气": {"aliases": ["tq"]}},
    }
    path = write_yaml(tmp_path / "config.yaml", data)
    services = build_services(str(path), registry=registry, clock=clock, engine=engine)

    def say(text: str, n: int) -> str:
        event = Event(
            kind="text", source="console", user_id="lisi", chat_id="wr1", at=clock.now(), text=text, msg_id=f"m{n}"
        )
        return services.dispatcher.handle(event).passive_text

    assert say("天气", 1) == "下雨啦，来店里躲躲雨～"
    assert say("tq", 2) == "下雨啦，来店里躲躲雨～"
    assert "天气" in say("帮助", 3)
