"""What the guide's 1:1 sidebar shows of a customer's group-buy signups."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.config.core import Config
from models import groupbuy

SHOWN_SIGNUPS = 5


def signups_profile(session: Session, config: Config, user_id: str) -> list[tuple[str, str]]:
    """Return the customer's live signups as one (label, value) line, or nothing."""
    render = config.texts.render
    shown = [
        render("profile_signup_line", title=deal.title, quantity=signup.quantity, number=signup.number)
        for signup, deal in groupbuy.of_member(session, user_id, SHOWN_SIGNUPS)
    ]
    return [(render("profile_signups_label"), "\n".join(shown))] if shown else []
