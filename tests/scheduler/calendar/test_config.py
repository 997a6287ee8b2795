"""Bad calendar input is caught by check-config with the line it is on; dates that pass only warn."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli.main import main
from bot.config.loader import ConfigError
from tests.factories import load_config
from tests.scheduler.harness import make_config

BASE = """\
timezone: Asia/Shanghai
roles:
  guides: [guide01]
groups:
  - chat_id: wr-team
    name: 团长群
    tags: [团长]
    push: webhook
  - chat_id: wr-cust
    name: 福利群
    kind: customer
    guide: guide01
    push: customer_task
calendar:
  - id: monday
    when:
      cron: "0 10 * * 1"
    to:
      tags: [团长]
      groups: [wr-team]
    content:
      text: "{date} 新品"
"""


def check(tmp_path: Path, text: str) -> Result:
    path = tmp_path / "config.yaml"
    path.write_text(text + f"database_url: sqlite:///{tmp_path}/db.sqlite\n", "utf-8")
    env = {"GROUPBOT_DATABASE_URL": None, "GROUPBOT_CONFIG": None}
    return CliRunner().invoke(main, ["check-config", "--config", str(path)], env=env, catch_exceptions=False)


def test_valid_calendar_passes_and_is_listed(tmp_path: Path) -> None:
    result = check(tmp_path, BASE)
    assert result.exit_code == 0, result.output
    assert "calendar monday: cron 0 10 * * 1" in result.output
    assert "calendar: degraded - monday: push: webhook, but outbox.transport is console" in result.output
    assert "warning" not in result.output


@pytest.mark.parametrize(
    ("old", "new", "line", "path", "message"),
    [
        ('cron: "0 10 * * 1"', 'cron: "0 25 * * 1"', 17, "calendar[0].when.cron", "invalid cron '0 25 * * 1'"),
        ('cron: "0 10 * * 1"', 'cron: "0 10 * *"', 17, "calendar[0].when.cron", "wrong number of fields"),
        ('cron: "0 10 * * 1"', 'cron: "*/30 * * * *"', 17, "calendar[0].when.cron", "fires more than once a day"),
        ("groups: [wr-team]", "groups: [wr-team, wr-nope]", 20, "calendar[0].to.groups[1]", "unknown group 'wr-nope'"),
        (
            "tags: [团长]\n      groups",
            "tags: [华南]\n      groups",
            19,
            "calendar[0].to.tags[0]",
            "unknown tag '华南'",
        ),
        ('text: "{date} 新品"', 'text: "{price} 新品"', 22, "calendar[0].content.text", "unknown placeholder(s) price"),
        ('text: "{date} 新品"', 'text: "{days_left} 新品"', 22, "calendar[0].content.text", "allowed here: {date}"),
    ],
)
def test_bad_calendar_input_is_reported_with_its_line(
    tmp_path: Path, old: str, new: str, line: int, path: str, message: str
) -> None:
    assert old in BASE
    result = check(tmp_path, BASE.replace(old, new))
    assert result.exit_code == 2, result.output
    (problem,) = [row for row in result.output.splitlines() if row.strip()]
    assert f"config.yaml:{line}:" in problem and f"{path}:" in problem and message in problem, problem


CAMPAIGN = """\
  - id: double11
    to:
      all: true
    campaign:
      event_date: 2020-11-11
      time: "23:30"
      offsets:
        - offset: -1d
          content:
            text: "倒计时 {days_left} 天"
  - id: dawn
    when:
      weekdays: [tue]
      time: "07:30"
    to:
      groups: [wr-team]
    content:
      markdown: "**早安**"
"""


def test_past_campaign_and_quiet_slots_warn_with_lines_but_the_config_still_loads(tmp_path: Path) -> None:
    """A campaign whose date passed must not stop a running service from reloading: it warns and sends nothing."""
    text = BASE + CAMPAIGN
    result = check(tmp_path, text)
    assert result.exit_code == 0, result.output
    warnings = [row.strip() for row in result.output.splitlines() if "warning:" in row]
    assert any(
        ":27:" in row and "calendar[1].campaign.event_date" in row and "campaign date 2020-11-11 is in the past" in row
        for row in warnings
    ), warnings
    # 07:30 is inside the default quiet hours 22:00-08:00, which cross midnight.
    assert any(
        ":34:" in row and "calendar[2].when" in row and "07:30 is inside quiet hours (22:00-08:00)" in row
        for row in warnings
    ), warnings
    config = load_config(tmp_path / "config.yaml")
    assert [entry.id for entry in config.calendar] == ["monday", "double11", "dawn"]


def test_quiet_warning_for_a_late_evening_slot_says_when_it_goes(tmp_path: Path) -> None:
    text = BASE.replace('cron: "0 10 * * 1"', 'cron: "30 23 * * 1"')
    result = check(tmp_path, text)
    assert "23:30 is inside quiet hours (22:00-08:00): the post waits until 08:00" in result.output


def test_duplicate_ids_and_shapes_are_refused() -> None:
    entry = {"id": "a", "when": {"time": "10:00"}, "to": {"all": True}, "content": {"text": "x"}}
    with pytest.raises(Exception, match="calendar id 'a' is used twice"):
        make_config([entry, entry])
    with pytest.raises(Exception, match="give exactly one of text, markdown or news"):
        make_config([{**entry, "content": {"text": "x", "markdown": "y"}}])
    with pytest.raises(Exception, match="give either when"):
        make_config([{"id": "b", "to": {"all": True}, "content": {"text": "x"}}])
    with pytest.raises(Exception, match="steps"):
        make_config([{**entry, "when": {"cron": "0 10 * * */2"}}])
    with pytest.raises(Exception, match="renew_seconds must be at most half"):
        make_config([], scheduler={"lease_seconds": 10, "renew_seconds": 8})


def test_unknown_key_in_an_entry_points_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(BASE.replace("    content:\n", "    contnet: x\n    content:\n"), "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert any(p.line == 21 and p.path == "calendar[0].contnet" for p in caught.value.problems), caught.value
