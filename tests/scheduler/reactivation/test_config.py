"""The `reactivation:` section: an admin's mistake is named with its line; quiet hours may cross midnight."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.config.loader import ConfigError, Problem
from tests.conftest import ROOT
from tests.factories import load_config


def load(tmp_path: Path, yaml: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "config.yaml"
    path.write_text("timezone: Asia/Shanghai\n" + textwrap.dedent(yaml).lstrip("\n"), encoding="utf-8")
    return load_config(path, environ={})


def problem_in(tmp_path: Path, yaml: str) -> Problem:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, yaml)
    (problem,) = info.value.problems
    return problem


def test_example_reactivation_section_loads() -> None:
    settings = load_config(ROOT / "config.example.yaml", environ={}).reactivation
    assert [(s.after_days, s.action) for s in settings.ladder] == [
        (7, "group_mention"),
        (14, "private_note"),
        (30, "tell_guide"),
    ]
    assert (settings.quiet_hours.start, settings.quiet_hours.end) == ("21:30", "08:30")
    assert settings.holdout_percent == 10


def test_ladder_days_not_increasing_point_at_the_step(tmp_path: Path) -> None:
    problem = problem_in(
        tmp_path,
        """
        reactivation:
          ladder:
            - {after_days: 14, action: group_mention}
            - {after_days: 7, action: private_note}
        """,
    )
    assert (problem.line, problem.path) == (5, "reactivation.ladder[1].after_days")
    assert "increase" in problem.message


def test_unknown_action_names_its_line(tmp_path: Path) -> None:
    problem = problem_in(
        tmp_path,
        """
        reactivation:
          ladder:
            - {after_days: 7, action: group_mention}
            - {after_days: 14, action: send_coupon}
        """,
    )
    assert problem.line == 5 and "action" in problem.path


def test_holdout_out_of_range_names_its_line(tmp_path: Path) -> None:
    problem = problem_in(tmp_path, "reactivation:\n  enabled: true\n  holdout_percent: 120\n")
    assert (problem.line, problem.path) == (4, "reactivation.holdout_percent")


def test_first_step_before_dormancy_is_refused(tmp_path: Path) -> None:
    problem = problem_in(
        tmp_path,
        """
        reactivation:
          dormant_days: 10
          ladder:
            - {after_days: 7, action: group_mention}
        """,
    )
    assert problem.line == 5 and "dormant" in problem.message


def test_step_text_with_an_unknown_placeholder_names_its_line(tmp_path: Path) -> None:
    problem = problem_in(
        tmp_path,
        """
        reactivation:
          ladder:
            - after_days: 7
              action: private_note
              text: "{name}，送你 {coupon}"
        """,
    )
    assert problem.line == 6 and "coupon" in problem.message and "{name}" in problem.message


def test_quiet_hours_crossing_midnight_are_valid(tmp_path: Path) -> None:
    config = load(tmp_path, 'reactivation:\n  quiet_hours: {start: "21:30", end: "08:30"}\n')
    assert config.reactivation.quiet_hours.start_time.hour == 21
    assert config.reactivation.quiet_hours.end_time.hour == 8


def test_equal_quiet_hours_are_refused(tmp_path: Path) -> None:
    problem = problem_in(tmp_path, 'reactivation:\n  quiet_hours: {start: "08:00", end: "08:00"}\n')
    assert problem.line == 3 and "equal" in problem.message
