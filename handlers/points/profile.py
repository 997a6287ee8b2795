"""What the guide's 1:1 sidebar shows of a customer's points: balance, tier, recent redemptions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config.core import Config
from handlers.points.config import POINTS_SECTION
from models import ledger
from models.rewards import Redemption

SHOWN_REDEMPTIONS = 5


def points_profile(session: Session, config: Config, user_id: str) -> list[tuple[str, str]]:
    """Return (label, value) lines: points, tier and the latest redemptions."""
    render = config.texts.render
    balance, earned = ledger.account_of(session, user_id)
    tier = POINTS_SECTION.of(config).tier_of(earned)
    lines = [
        (render("profile_points_label"), render("profile_points", balance=balance, earned=earned)),
        (render("profile_tier_label"), tier.name if tier else render("profile_no_tier")),
    ]
    redemptions = session.scalars(
        select(Redemption)
        .where(Redemption.user_id == user_id)
        .order_by(Redemption.created_at.desc(), Redemption.id.desc())
        .limit(SHOWN_REDEMPTIONS)
    )
    shown = [
        render("profile_redemption_line", name=r.name, when=r.created_at.astimezone(config.zone).strftime("%m-%d"))
        for r in redemptions
    ]
    if shown:
        lines.append((render("profile_redemptions_label"), "\n".join(shown)))
    return lines
