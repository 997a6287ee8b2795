"""抽奖: draws recorded with their pool and seed, so anyone can re-derive the winners afterwards.

The winners are a pure function of the record: each member of the pool (sorted, unique) scores
HMAC-SHA256(key = the seed's bytes, message = the member's userid in UTF-8); the `count` lowest
scores (compared as hex strings) win, in that order. The seed comes from `secrets` when the draw
is made and is stored beside the pool, so `verify` recomputes the winners from the row alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.base import Base, UTCDateTime, one_of

ALGORITHM = "hmac-sha256-v1"
SEED_BYTES = 32


class PoolKind(StrEnum):
    ACTIVE = "active"  # this week's top M on 活跃榜
    CHECKINS = "checkins"  # who checked in this week
    GROUP = "group"  # everyone in the group now


class Draw(Base):
    __tablename__ = "lottery_draws"
    __table_args__ = (
        CheckConstraint(one_of("pool_kind", PoolKind), name="pool_kind"),
        CheckConstraint("winners_count >= 1", name="winners_positive"),
        CheckConstraint("points >= 0", name="points_not_negative"),
        Index("ix_lottery_draws_chat_drawn", "chat_id", "drawn_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(String(128))
    pool_kind: Mapped[str] = mapped_column(String(16))
    # For the 活跃榜 pool: how many of the top were in it.
    pool_top: Mapped[int | None] = mapped_column(Integer)
    winners_count: Mapped[int] = mapped_column(Integer)
    # Hex of the secret random bytes, and the derivation that turns seed and pool into winners.
    seed: Mapped[str] = mapped_column(String(128))
    algorithm: Mapped[str] = mapped_column(String(32))
    # JSON lists of userids: the whole pool, sorted, and the winners in draw order.
    pool: Mapped[str] = mapped_column(Text)
    winners: Mapped[str] = mapped_column(Text)
    # SHA-256 of the pool as drawn (userids joined by newlines), announced so members can check it.
    pool_digest: Mapped[str] = mapped_column(String(64))
    prize: Mapped[str] = mapped_column(String(64))
    points: Mapped[int] = mapped_column(Integer, default=0)
    drawn_by: Mapped[str] = mapped_column(String(128))
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def pool_ids(self) -> list[str]:
        return list(json.loads(self.pool))

    @property
    def winner_ids(self) -> list[str]:
        return list(json.loads(self.winners))


def normalise(pool: Iterable[str]) -> list[str]:
    """Return the pool as drawn: unique userids, sorted."""
    return sorted(set(pool))


def digest(pool: list[str]) -> str:
    """Return the SHA-256 hex of the pool (sorted userids joined by newlines)."""
    return hashlib.sha256("\n".join(pool).encode("utf-8")).hexdigest()


def derive(seed_hex: str, pool: list[str], count: int) -> list[str]:
    """Return the winners `seed_hex` picks from `pool`: the `count` lowest HMAC-SHA256 scores."""
    key = bytes.fromhex(seed_hex)
    scored = sorted((hmac.new(key, user.encode("utf-8"), hashlib.sha256).hexdigest(), user) for user in pool)
    return [user for _score, user in scored[:count]]


def draw(
    session: Session,
    *,
    chat_id: str,
    pool_kind: str,
    pool_top: int | None,
    pool: Iterable[str],
    count: int,
    prize: str,
    points: int,
    drawn_by: str,
    at: datetime,
    seed_hex: str | None = None,
) -> Draw:
    """Draw `count` winners (fewer when the pool is smaller) from `pool` with a fresh secret seed; record it."""
    members = normalise(pool)
    seed = seed_hex or secrets.token_hex(SEED_BYTES)
    row = Draw(
        chat_id=chat_id,
        pool_kind=pool_kind,
        pool_top=pool_top,
        winners_count=count,
        seed=seed,
        algorithm=ALGORITHM,
        pool=json.dumps(members, ensure_ascii=False),
        winners=json.dumps(derive(seed, members, count), ensure_ascii=False),
        pool_digest=digest(members),
        prize=prize,
        points=points,
        drawn_by=drawn_by,
        drawn_at=at,
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class Verification:
    draw: Draw
    derived: list[str]
    digest_ok: bool

    @property
    def ok(self) -> bool:
        return self.digest_ok and self.derived == self.draw.winner_ids


def verify(session: Session, draw_id: int) -> Verification | None:
    """Re-derive a recorded draw's winners from its seed and pool; None when there is no such draw."""
    row = session.get(Draw, draw_id)
    if row is None:
        return None
    pool = row.pool_ids
    return Verification(row, derive(row.seed, pool, row.winners_count), digest(pool) == row.pool_digest)


def recent(session: Session, limit: int = 20) -> list[Draw]:
    """Return the latest draws, newest first."""
    return list(session.scalars(select(Draw).order_by(Draw.id.desc()).limit(limit)))
