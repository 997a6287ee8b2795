"""The scheduler process: content calendar, deadlines and reactivation, acted on by one leader at a time.

`groupbot scheduler` runs it alone; `groupbot serve` runs it too unless `--no-scheduler`; the gunicorn
entry point (bot/wsgi.py) never starts it.
"""
