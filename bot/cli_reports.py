"""`groupbot report …`: one command group that every capability's report joins."""

from __future__ import annotations

import click


@click.group()
def report() -> None:
    """Operator reports (guides, reactivation …)."""


def register(main: click.Group) -> None:
    """Add the `report` command group to `main`; capabilities add their reports to `report`."""
    main.add_command(report)
