"""The kf tests' world: the fake WeCom with a kf account, the service, a puller and a drainer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FrozenClock
from tests.fake_wecom import FakeWecom, start_fake_wecom
from tests.handlers.kf.harness import KfWorld, make_world


@pytest.fixture
def fake_wecom() -> Iterator[FakeWecom]:
    fake, server, thread = start_fake_wecom()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def world_with(
    tmp_path: Path, make_services: Callable[..., Any], fake_wecom: FakeWecom, clock: FrozenClock, database_url: str
) -> Callable[..., KfWorld]:
    def build(**kf: Any) -> KfWorld:
        return make_world(tmp_path, make_services, fake_wecom, clock, database_url, **kf)

    return build


@pytest.fixture
def world(world_with: Callable[..., KfWorld]) -> KfWorld:
    return world_with()
