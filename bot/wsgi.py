"""Gunicorn entry point (`gunicorn bot.wsgi:app`): HTTP only; run `groupbot drain` and the scheduler elsewhere."""

from __future__ import annotations

from bot.app import create_app
from bot.cli import default_config_path
from bot.clock import SystemClock
from bot.services import build_services
from handlers import load_handlers

app = create_app(build_services(default_config_path(), registry=load_handlers(), clock=SystemClock()))
