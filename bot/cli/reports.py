"""`groupbot report …`: one command group that every capability's report joins."""

from __future__ import annotations

import click


@click.group()
def report() -> None:
    """Operator reports (guides, reactivation …)."""
