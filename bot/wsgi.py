"""Gunicorn entry point (`gunicorn bot.wsgi:app`): HTTP only; run `groupbot drain` and the scheduler elsewhere.

GROUPBOT_LOG_FORMAT=json gives JSON log lines; with several workers set PROMETHEUS_MULTIPROC_DIR (an empty
directory) and `-c python:bot.telemetry.gunicorn` so /metrics adds up every worker.
"""

from __future__ import annotations

import os

from bot.app import create_app
from bot.cli.common import default_config_path
from bot.clock import SystemClock
from bot.registry import Registry
from bot.services import build_services
from bot.telemetry.logs import setup_logging
from handlers import CAPABILITIES

setup_logging(os.environ.get("GROUPBOT_LOG_FORMAT", "text"), os.environ.get("GROUPBOT_LOG_LEVEL", "INFO"))
services = build_services(default_config_path(), registry=Registry.of(CAPABILITIES), clock=SystemClock())
app = create_app(services)
# Under `gunicorn --preload` workers fork after this import; pooled connections must not cross a fork.
os.register_at_fork(after_in_child=lambda: services.engine.dispose(close=False))
