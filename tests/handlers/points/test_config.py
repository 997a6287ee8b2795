"""The `points:` section: a mistake an admin makes is named with its line, and the shipped example loads."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.config.loader import ConfigError, Problem
from tests.conftest import ROOT
from tests.factories import load_config


def problem_in(tmp_path: Path, points_yaml: str) -> Problem:
    path = tmp_path / "config.yaml"
    path.write_text("timezone: Asia/Shanghai\n" + textwrap.dedent(points_yaml).lstrip("\n"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    (problem,) = info.value.problems
    return problem


def test_example_points_section_loads() -> None:
    config = load_config(ROOT / "config.example.yaml", environ={})
    points = config.points
    assert (points.reset_hour, points.checkin_points, points.daily_earn_cap) == (4, 10, 200)
    assert [t.name for t in points.tiers] == ["银卡", "金卡"]
    assert points.reward("a01") is not None and points.reward("a01").cost == 300  # type: ignore[union-attr]
    assert points.bonus(3) == 5 and points.bonus(7) == 20 and points.bonus(10) == 5


def test_reset_hour_out_of_range_names_its_line(tmp_path: Path) -> None:
    problem = problem_in(tmp_path, "points:\n  reset_hour: 24\n")
    assert (problem.line, problem.path) == (3, "points.reset_hour")


def test_tiers_out_of_order_point_at_the_offending_tier(tmp_path: Path) -> None:
    problem = problem_in(
        tmp_path,
        """
        points:
          tiers:
            - {name: 金卡, min_earned: 2000}
            - {name: 银卡, min_earned: 500}
        """,
    )
    assert problem.line == 5
    assert "lowest to highest" in problem.message


def test_duplicate_reward_code_names_the_second(tmp_path: Path) -> None:
    problem = problem_in(
        tmp_path,
        """
        points:
          rewards:
            - {code: A01, name: 帆布袋, cost: 300, stock: 5}
            - {code: a01, name: 水杯, cost: 200, stock: 5}
        """,
    )
    assert problem.line == 5
    assert "listed twice" in problem.message


def test_negative_cost_and_unknown_key_are_refused(tmp_path: Path) -> None:
    cost = problem_in(tmp_path, "points:\n  rewards:\n    - {code: A01, name: 帆布袋, cost: -1, stock: 5}\n")
    assert "cost" in cost.path
    unknown = problem_in(tmp_path, "points:\n  checkin_point: 10\n")
    assert unknown.path == "points.checkin_point"
