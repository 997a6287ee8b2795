"""The `groupbuy:` section: a mistake an admin makes is named with its line, and the shipped example loads."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.config.loader import ConfigError, Problem
from tests.conftest import ROOT
from tests.factories import load_config


def problem_in(tmp_path: Path, groupbuy_yaml: str) -> Problem:
    path = tmp_path / "config.yaml"
    path.write_text("timezone: Asia/Shanghai\n" + textwrap.dedent(groupbuy_yaml).lstrip("\n"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    (problem,) = info.value.problems
    return problem


def test_example_groupbuy_section_loads() -> None:
    settings = load_config(ROOT / "config.example.yaml", environ={}).groupbuy
    assert (settings.close_when_full, settings.default_limit, settings.points_per_signup) == (False, 5, 20)
    assert (settings.code_style, settings.code_prefix, settings.horizon.days) == ("random", "T", 30)


@pytest.mark.parametrize(
    ("yaml", "line", "path", "fragment"),
    [
        ("groupbuy:\n  default_limit: 0\n", 3, "groupbuy.default_limit", "greater than or equal to 1"),
        ("groupbuy:\n  close_when_full: false\n  code_style: emoji\n", 4, "groupbuy.code_style", "random"),
        ("groupbuy:\n  points_per_signup: -5\n", 3, "groupbuy.points_per_signup", "greater than or equal to 0"),
        ("groupbuy:\n  code_prefix: 团\n", 3, "groupbuy.code_prefix", "ASCII"),
        ("groupbuy:\n  max_deadline_days: 400\n", 3, "groupbuy.max_deadline_days", "less than or equal to 366"),
        ("groupbuy:\n  close_when_ful: true\n", 3, "groupbuy.close_when_ful", ""),
    ],
)
def test_mistakes_are_named_with_their_line(tmp_path: Path, yaml: str, line: int, path: str, fragment: str) -> None:
    problem = problem_in(tmp_path, yaml)
    assert (problem.line, problem.path) == (line, path)
    assert fragment in problem.message


def test_an_admin_text_for_a_groupbuy_sentence_may_only_use_its_placeholders(tmp_path: Path) -> None:
    problem = problem_in(tmp_path, 'texts:\n  groupbuy_joined: "成功 {code} {balance}"\n')
    assert (problem.line, problem.path) == (3, "texts.groupbuy_joined")
    assert "unknown placeholder(s) balance" in problem.message
