"""The scheduler process: content calendar, deadlines and reactivation, acted on by one leader at a time.

`groupbot scheduler` runs it alone; `groupbot serve` runs it too unless `--no-scheduler`; the gunicorn
entry point (bot/wsgi.py) never starts it.
"""

from __future__ import annotations

from bot.registry import Capability
from scheduler.cli import run_scheduler
from scheduler.config import SCHEDULER_SECTION

CAPABILITY = Capability(name="scheduler", section=SCHEDULER_SECTION, cli=(run_scheduler,))
