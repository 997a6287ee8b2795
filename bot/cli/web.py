"""`groupbot web`: the web pages' helpers for local use (a one-time login link without WeCom)."""

from __future__ import annotations

import click

from bot.cli.common import config_option, open_database
from bot.clock import SystemClock
from bot.web.auth import create_login_link


@click.group()
def web() -> None:
    """The web pages (the guide's sidebar, the admin console)."""


@web.command("login-link")
@config_option
@click.option("--user", "user_id", required=True, help="The guide's or admin's WeCom userid.")
@click.option("--base", default=None, help="Address the link starts with (default web.public_url or local).")
@click.option("--console", "to_console", is_flag=True, help="Land on the admin console instead of the sidebar.")
def login_link(config_path: str, user_id: str, base: str | None, to_console: bool) -> None:
    """Print a short-lived, one-time link that signs USER in to the web pages."""
    with open_database(config_path) as (config, session_factory):
        role = config.roles.role_of(user_id)
        if role == "member":
            raise click.ClickException(f"{user_id} is not listed under roles.guides or roles.admins")
        minutes = config.web.login_link_minutes
        path = create_login_link(session_factory, user_id, SystemClock().now(), minutes)
        start = (base or config.web.public_url or "http://127.0.0.1:8000").rstrip("/")
    click.echo(f"{start}{path}" + ("?next=/web/console" if to_console else ""))
    click.echo(f"(signs in {user_id} as {role}; works once, for {minutes:g} minutes)", err=True)
