"""Every shipped command does what its own examples promise, and documents itself for 帮助."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.events import Event
from bot.registry import CommandSpec
from bot.services import Services
from tests.conftest import base_config, write_yaml
from tests.factories import load_handlers

COMMANDS: list[CommandSpec] = list(load_handlers().commands.values())
EXAMPLES = [(spec, given, expected) for spec in COMMANDS for given, expected in spec.examples]
# A user base_config() gives each role, so every example runs as someone allowed to use it.
USER_FOR_ROLE = {"member": "lisi", "guide": "guide01", "admin": "boss"}


def test_registry_is_not_empty() -> None:
    """The parametrized tests below would silently pass on an empty registry; make sure they run."""
    assert COMMANDS and EXAMPLES


@pytest.mark.parametrize(("spec", "given", "expected"), EXAMPLES, ids=[f"{s.name}:{g}" for s, g, _ in EXAMPLES])
def test_example_reply_contains_expected_fragment(
    make_services: Callable[..., Services], tmp_path: Path, spec: CommandSpec, given: str, expected: str
) -> None:
    """The example input, sent to the real dispatcher from the console, answers with the promised fragment."""
    # The guide's own group: guides act in the groups that name them (roles.guide_scope: own).
    config = {**base_config(), "groups": [{"chat_id": "wrgroup0001", "name": "一号群", "guide": "guide01"}]}
    services = make_services(write_yaml(tmp_path / "config.yaml", config))
    event = Event(
        kind="text",
        source="console",
        user_id=USER_FOR_ROLE[spec.role],
        chat_id="wrgroup0001",
        at=services.clock.now(),
        text=given,
        msg_id=uuid.uuid4().hex,
    )
    reply = services.dispatcher.handle(event).passive_text
    assert expected in reply
    assert "没听懂" not in reply


@pytest.mark.parametrize("spec", COMMANDS, ids=[s.name for s in COMMANDS])
def test_command_documents_itself(spec: CommandSpec) -> None:
    """Each command has a help line (its docstring's first line) and at least one example."""
    assert spec.summary.strip(), f"{spec.name} has no docstring summary for 帮助"
    assert spec.examples, f"{spec.name} has no examples"
    for given, expected in spec.examples:
        assert given.strip() and expected.strip()
