"""Gunicorn settings for several workers (`gunicorn -c python:bot.telemetry.gunicorn bot.wsgi:app`).

With PROMETHEUS_MULTIPROC_DIR set, each worker writes its metrics there and /metrics adds them up; a worker
that exits is marked dead so its live values stop counting. Other settings come from the command line.
"""

from __future__ import annotations

from bot.telemetry.metrics import child_exit

__all__ = ["child_exit"]
