"""Quiz games (有奖竞猜): guides start and end quizzes, members answer, winners are credited."""

from __future__ import annotations

from bot.registry import Capability
from handlers.quiz import commands
from handlers.quiz.cli import quiz
from handlers.quiz.config import QUIZ_SECTION
from handlers.quiz.features import quiz_features
from handlers.quiz.results import close_due_quizzes

CAPABILITY = Capability(
    name="quiz",
    modules=(commands,),
    section=QUIZ_SECTION,
    texts="handlers.quiz",
    cli=(quiz,),
    deadlines=(close_due_quizzes,),
    features=(quiz_features,),
    send_hooks=((commands.SIDEBAR_CLOCK, commands.sidebar_clock),),
)
