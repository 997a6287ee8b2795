"""`groupbot kf link --group NAME` prints the group's link with its scene_param and serves it from the cache."""

from __future__ import annotations

from click.testing import CliRunner

from bot.cli.main import main
from handlers.kf.config import scene_param
from tests.handlers.kf.harness import GROUP, GROUP_NAME, KfWorld


def test_kf_link_prints_and_caches_the_groups_link(world: KfWorld, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = str(tmp_path / "config.yaml")
    first = CliRunner().invoke(main, ["kf", "link", "--config", config, "--group", GROUP_NAME])
    assert first.exit_code == 0, first.output
    assert first.output.strip().endswith(f"scene_param={scene_param(GROUP)}")
    again = CliRunner().invoke(main, ["kf", "link", "--config", config, "--group", GROUP_NAME])
    assert again.output == first.output
    assert len(world.fake.calls_to("kf/add_contact_way")) == 1  # the second answer came from the cache


def test_kf_link_refuses_an_unknown_group(world: KfWorld, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["kf", "link", "--config", str(tmp_path / "config.yaml"), "--group", "没有"])
    assert result.exit_code != 0 and "no group named" in result.output
