"""`groupbot lottery …`: list recorded draws and verify one by re-deriving its winners from the record."""

from __future__ import annotations

import click

from bot.cli.common import config_option, local_time, open_database
from models import lottery

DRAW_ID = click.IntRange(1, 2**31 - 1)


@click.group("lottery")
def lottery_group() -> None:
    """抽奖 draws: list them, verify one."""


@lottery_group.command("list")
@config_option
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
def list_draws(config_path: str, limit: int) -> None:
    """List the latest draws, newest first."""
    with open_database(config_path) as (config, factory), factory() as session:
        draws = lottery.recent(session, limit)
        for row in draws:
            click.echo(
                f"#{row.id} {local_time(row.drawn_at, config)} {row.chat_id} {row.pool_kind}"
                f"{'' if row.pool_top is None else row.pool_top} pool={len(row.pool_ids)} "
                f"winners={','.join(row.winner_ids)} prize={row.prize} points={row.points} by {row.drawn_by}"
            )
    if not draws:
        click.echo("no draws yet")


@lottery_group.command("verify")
@config_option
@click.argument("draw_id", type=DRAW_ID)
def verify(config_path: str, draw_id: int) -> None:
    """Re-derive draw DRAW_ID's winners from its recorded seed and pool; exit 1 if they differ."""
    with open_database(config_path) as (_config, factory), factory() as session:
        checked = lottery.verify(session, draw_id)
        if checked is None:
            click.echo(f"no draw #{draw_id}", err=True)
            raise SystemExit(1)
        row = checked.draw
        click.echo(f"draw #{row.id}: {row.algorithm}, pool of {len(row.pool_ids)} (sha256 {row.pool_digest})")
        click.echo(f"seed {row.seed}")
        click.echo(f"recorded winners: {', '.join(row.winner_ids)}")
        click.echo(f"derived winners:  {', '.join(checked.derived)}")
    if not checked.ok:
        reason = "the pool does not match its digest" if not checked.digest_ok else "the winners differ"
        click.echo(f"MISMATCH: {reason}", err=True)
        raise SystemExit(1)
    click.echo("OK: the recorded seed and pool give exactly the recorded winners")
