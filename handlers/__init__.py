"""The capabilities this build ships, in one list; the composition root builds the registry from it.

Adding a capability is one package that declares a `Capability(...)` in its `__init__` and one
line here. The order is the order of `帮助` and of `check-config`'s lines.
"""

from __future__ import annotations

from bot.registry import Capability
from handlers import help, keywords
from handlers.groupbuy import CAPABILITY as GROUPBUY
from handlers.kf import CAPABILITY as KF
from handlers.lottery import CAPABILITY as LOTTERY
from handlers.members import CAPABILITY as MEMBERS
from handlers.points import CAPABILITY as POINTS
from handlers.quiz import CAPABILITY as QUIZ
from scheduler import CAPABILITY as SCHEDULER
from scheduler.calendar import CAPABILITY as CALENDAR
from scheduler.reactivation import CAPABILITY as REACTIVATION

# The shell's own commands: 帮助 and keyword replies (their sentences are the shell's, in bot/texts.yaml).
SHELL = Capability(name="shell", modules=(help, keywords))

CAPABILITIES: tuple[Capability, ...] = (
    SHELL,
    MEMBERS,
    POINTS,
    QUIZ,
    GROUPBUY,
    KF,
    LOTTERY,
    SCHEDULER,
    CALENDAR,
    REACTIVATION,
)
