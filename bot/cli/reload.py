"""`groupbot reload`: see whether the running service holds back an edit, and accept it."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.common import config_option, load_or_exit
from bot.config.guard import accept, read_held


@click.command("reload")
@config_option
@click.option("--accept", "accept_edit", is_flag=True, help="Apply the file as it is now, sections it drops too.")
def reload(config_path: str, accept_edit: bool) -> None:
    """Say whether an edit that empties whole sections is held back; with --accept, let it apply.

    The running service picks the acceptance up within seconds. It names this exact file
    content: a later edit that drops sections is held again.
    """
    path = Path(config_path)
    load_or_exit(config_path)  # exit 2 with file:line:column on an invalid file: nothing to accept
    held = read_held(path)
    if not accept_edit:
        click.echo(f"{config_path}: held back: {held.describe()}" if held else f"{config_path}: nothing held back")
        return
    digest = accept(path)
    dropped = f" (empties {', '.join(held.dropped)})" if held else ""
    click.echo(f"{config_path}: accepted as it is now{dropped}; sha256 {digest}")
