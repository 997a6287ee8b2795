"""`groupbot report reactivation` and `groupbot reactivation run-once`: does nudging win members back?"""

from __future__ import annotations

from datetime import timedelta

import click

from bot.cli.common import config_option, open_database
from bot.clock import SystemClock
from models.nudge import CohortFigures, figures
from scheduler.reactivation.config import REACTIVATION_SECTION
from scheduler.reactivation.ladder import run_reactivation


def _rate(cohort: CohortFigures) -> str:
    return f"{cohort.rate:.1%}" if cohort.rate is not None else "-"


def _line(label: str, cohort: CohortFigures, days: int) -> str:
    return (
        f"{label:<9} {cohort.spells:>7} members, {cohort.reactivated:>7} active again within {days} days "
        f"({_rate(cohort)})"
    )


@click.command("reactivation")
@config_option
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3650), help="Look-back window.")
def reactivation_report(config_path: str, days: int) -> None:
    """Members who entered the ladder in the last N days: nudged vs holdout, and how many came back."""
    with open_database(config_path) as (config, factory):
        now = SystemClock().now()
        with factory() as session:
            found = figures(session, since=now - timedelta(days=days), until=now, within=timedelta(days=days))
    click.echo(f"reactivation, dormant spells that reached the ladder in the last {days} days")
    click.echo(_line("nudged", found.nudged, days))
    click.echo(_line("holdout", found.holdout, days))
    if found.nudged.rate is not None and found.holdout.rate is not None:
        lift = (found.nudged.rate - found.holdout.rate) * 100
        click.echo(f"lift      {lift:+.1f} percentage points (nudged minus holdout)")
    if found.unreachable:
        click.echo(f"unreachable {found.unreachable} (no step could reach them: no guide, or no @ in tasks)")
    for step, sent in found.sent_by_step.items():
        action = (
            REACTIVATION_SECTION.of(config).ladder[step - 1].action
            if step <= len(REACTIVATION_SECTION.of(config).ladder)
            else "?"
        )
        click.echo(f"step {step} ({action}): {sent} sent")


@click.group("reactivation")
def reactivation() -> None:
    """Reactivation nudges to members who went quiet."""


@reactivation.command("run-once")
@config_option
def run_once(config_path: str) -> None:
    """Do one reactivation pass now (the scheduler does this every few minutes)."""
    with open_database(config_path) as (config, factory):
        summary = run_reactivation(factory, config, SystemClock().now())
    if not summary.enabled:
        click.echo("reactivation is off (reactivation.enabled: false)")
        return
    if summary.quiet_hours:
        click.echo(f"quiet hours: nothing queued; {summary.skipped_quiet_hours} member(s) wait for a later pass")
        return
    steps = ", ".join(f"step {step}: {count}" for step, count in sorted(summary.nudged.items())) or "none"
    click.echo(
        f"nudged {summary.total_nudged} ({steps}); holdout {summary.holdout}; unreachable {summary.unreachable}; "
        f"over the daily caps {summary.skipped_caps}"
    )
