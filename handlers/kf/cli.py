"""`groupbot kf link --group NAME`: print (and cache) a customer group's 微信客服 link."""

from __future__ import annotations

import click

from bot.cli.common import config_option, open_database
from bot.clock import SystemClock
from bot.transports.base import DeliveryError
from bot.transports.wecom import build_wecom_transport
from handlers.kf.config import KF_SECTION
from handlers.kf.links import make_link
from models import kf as kf_rows


@click.group("kf")
def kf_group() -> None:
    """微信客服: links for customer groups."""


@kf_group.command("link")
@config_option
@click.option("--group", "group_name", required=True, help="The customer group's name (or chat id) under groups:.")
@click.option("--refresh", is_flag=True, help="Ask WeCom for a new link even when one is cached.")
def link(config_path: str, group_name: str, refresh: bool) -> None:
    """Print the group's kf link: members open it in WeChat to check in, sign up and answer 1:1."""
    with open_database(config_path) as (config, factory):
        group = next((g for g in config.groups if group_name in (g.name, g.chat_id)), None)
        if group is None:
            raise click.ClickException(f"no group named {group_name!r} under groups:")
        if group.kind != "customer":
            raise click.ClickException(f"{group.name} is an internal group: its members @ the bot there; no kf link")
        if not KF_SECTION.of(config).enabled:
            raise click.ClickException("kf.accounts is empty: add the 微信客服 account (open_kfid, name) first")
        with factory.begin() as session:
            cached = None if refresh else kf_rows.cached_link(session, group.chat_id)
            if cached:
                click.echo(cached)
                return
        clock = SystemClock()
        api = build_wecom_transport(lambda: config, factory, clock).api
        try:
            with factory.begin() as session:
                url = make_link(session, api, config, group.chat_id, clock.now())
        except (DeliveryError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(url)
