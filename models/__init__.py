"""SQLAlchemy 2.x models, one module per aggregate; import them all so Alembic and metadata see every table."""

from models import checkin, ledger, rewards  # noqa: F401  (points economy tables)
from models.activity import ActivityHour  # noqa: F401
from models.aibot_stream import AibotStream  # noqa: F401  (aibot stream refreshes)
from models.base import Base
from models.calendar_delivery import CalendarCursor, CalendarDelivery  # noqa: F401  (content calendar)
from models.chat_sync import ChatSync  # noqa: F401  (customer-group sync state)
from models.console_audit import ConsoleAction  # noqa: F401  (what people did in the console)
from models.customer_task import CustomerTask, CustomerTaskChat  # noqa: F401
from models.groupbuy import Deal  # noqa: F401  (group-buy deals and signups)
from models.kf import KfCursor  # noqa: F401  (微信客服 pulls, windows and links)
from models.lottery import Draw  # noqa: F401  (抽奖 draws)
from models.membership import Membership  # noqa: F401
from models.nudge import Nudge  # noqa: F401  (reactivation ladder)
from models.outbox import OutboxMessage
from models.processed_event import ProcessedEvent
from models.quiz import Quiz, QuizAnswer  # noqa: F401  (quiz games)
from models.rate_limit import RateLimitWindow  # noqa: F401
from models.scheduler_lease import SchedulerLease  # noqa: F401  (scheduler leader)
from models.web_login import WebLoginLink  # noqa: F401  (one-time web login links)
from models.wecom_token import WecomToken  # noqa: F401
from models.welcome import WelcomeBatch  # noqa: F401
from models.welcome_template import WelcomeTemplate  # noqa: F401  (native welcome)

__all__ = ["Base", "OutboxMessage", "ProcessedEvent"]
