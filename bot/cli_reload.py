"""`groupbot reload`: see whether the running service holds back an edit, and accept it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from bot.config_guard import accept, read_held


def register(main: click.Group, config_option: Callable[[Any], Any], load: Callable[[str], object]) -> None:
    """Add the `reload` command to `main`; `load` validates the file and exits 2 on errors."""

    @main.command("reload")
    @config_option
    @click.option("--accept", "accept_edit", is_flag=True, help="Apply the file as it is now, sections it drops too.")
    def reload(config_path: str, accept_edit: bool) -> None:
        """Say whether an edit that empties whole sections is held back; with --accept, let it apply.

        The running service picks the acceptance up within seconds. It names this exact file
        content: a later edit that drops sections is held again.
        """
        path = Path(config_path)
        load(config_path)  # exit 2 with file:line:column on an invalid file: nothing to accept
        held = read_held(path)
        if not accept_edit:
            click.echo(f"{config_path}: held back: {held.describe()}" if held else f"{config_path}: nothing held back")
            return
        digest = accept(path)
        dropped = f" (empties {', '.join(held.dropped)})" if held else ""
        click.echo(f"{config_path}: accepted as it is now{dropped}; sha256 {digest}")
