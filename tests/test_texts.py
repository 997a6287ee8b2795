"""Each sentence lives once, in its capability's texts.yaml; the example config shows exactly those."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot.registry import Capability, Registry
from tests.factories import REGISTRY

ROOT = Path(__file__).resolve().parent.parent


def test_the_example_config_shows_every_packaged_sentence_unchanged() -> None:
    """config.example.yaml's `texts:` is what an admin copies from: the same keys and words as the packages."""
    shown = YAML(typ="safe").load((ROOT / "config.example.yaml").read_text(encoding="utf-8"))["texts"]
    packaged = REGISTRY.default_texts
    assert sorted(set(packaged) - set(shown)) == [], "sentences missing from config.example.yaml"
    assert sorted(set(shown) - set(packaged)) == [], "config.example.yaml shows sentences no capability says"
    assert {key: shown[key] for key in packaged} == packaged


def test_every_capability_with_texts_ships_its_file() -> None:
    owners = [c.name for c in REGISTRY.capabilities if c.texts is not None]
    assert owners == ["members", "points", "quiz", "groupbuy", "kf", "lottery", "calendar", "reactivation"]
    assert all(REGISTRY.default_texts)  # no empty sentence


def test_a_sentence_defined_by_two_capabilities_is_refused() -> None:
    twice = Registry.of([Capability(name="a", texts="handlers.points"), Capability(name="b", texts="handlers.points")])
    with pytest.raises(ValueError, match="already defined"):
        _ = twice.default_texts
