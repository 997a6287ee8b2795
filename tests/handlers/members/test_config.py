"""`groups:` and `members:` as an admin writes them: each mistake is named with its line; the example loads."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.config.loader import ConfigError, Problem
from tests.conftest import ROOT
from tests.factories import load_config

ROLES = "roles:\n  guides: [guide01]\n  admins: [boss]\n"


def problem_in(tmp_path: Path, body: str) -> Problem:
    path = tmp_path / "config.yaml"
    path.write_text(ROLES + textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    (problem,) = info.value.problems
    return problem


def test_example_groups_and_members_load() -> None:
    """The shipped example has an internal webhook group and a customer task group, each with a listed guide."""
    config = load_config(ROOT / "config.example.yaml", environ={})
    kinds = {(g.kind, g.push) for g in config.groups}
    assert ("internal", "webhook") in kinds and ("customer", "customer_task") in kinds
    assert all(g.guide in config.roles.guides for g in config.groups)
    members = config.members
    assert (members.welcome.window_seconds, members.rules.remind_every.members, members.silent_days) == (60, 50, 7)


def test_defaults_when_the_section_is_absent(tmp_path: Path) -> None:
    """No members: section: a 60 s window, no rules reminder, 7 silent days."""
    path = tmp_path / "config.yaml"
    path.write_text(ROLES, encoding="utf-8")
    members = load_config(path, environ={}).members
    assert (members.welcome.window_seconds, members.rules.remind_every.members, members.silent_days) == (60, None, 7)


def test_guide_must_be_staff(tmp_path: Path) -> None:
    problem = problem_in(tmp_path, "groups:\n  - {chat_id: wrA, name: 一群, guide: stranger}\n")
    assert problem.line == 5 and problem.path == "groups[0].guide"
    assert "roles.guides" in problem.message


def test_customer_group_cannot_push_by_webhook(tmp_path: Path) -> None:
    problem = problem_in(
        tmp_path,
        """
        groups:
          - chat_id: wrA
            name: 客户群
            kind: customer
            guide: guide01
            push: webhook
        """,
    )
    assert problem.path == "groups[0].push" and problem.line == 9
    assert "customer_task" in problem.message


def test_customer_task_needs_a_guide_and_a_customer_group(tmp_path: Path) -> None:
    problem = problem_in(tmp_path, "groups:\n  - {chat_id: wrA, name: 客户群, kind: customer, push: customer_task}\n")
    assert problem.path == "groups[0].guide"
    problem = problem_in(tmp_path, "groups:\n  - {chat_id: wrA, name: 内部群, guide: guide01, push: customer_task}\n")
    assert problem.path == "groups[0].push"


def test_webhook_key_only_with_webhook_push(tmp_path: Path) -> None:
    problem = problem_in(tmp_path, "groups:\n  - {chat_id: wrA, name: 一群, push: appchat, webhook_key: abc}\n")
    assert problem.path == "groups[0].webhook_key"


def test_group_welcome_placeholders_are_checked(tmp_path: Path) -> None:
    problem = problem_in(
        tmp_path,
        """
        groups:
          - chat_id: wrA
            name: 一群
          - chat_id: wrB
            name: 二群
            welcome: "欢迎{name}"
        """,
    )
    assert problem.path == "groups[1].welcome" and problem.line == 9
    assert "{name}" in problem.message and "{names}" in problem.message


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ("members:\n  welcome:\n    window_seconds: -1\n", "members.welcome.window_seconds"),
        ("members:\n  rules:\n    remind_every:\n      members: 0\n", "members.rules.remind_every.members"),
        ("members:\n  rules:\n    remind_every:\n      days: 7\n", "members.rules.remind_every.days"),
        ("members:\n  silent_days: 0\n", "members.silent_days"),
    ],
)
def test_bad_members_values_name_their_key(tmp_path: Path, body: str, path: str) -> None:
    assert problem_in(tmp_path, body).path == path
