"""The APScheduler process (content calendar, reactivation, deadlines, leader lease).

Nothing runs here yet: the scheduler capability builds on the service shell and arrives with its
own issue. `groupbot serve` and the gunicorn entry point never start a scheduler inside a worker.
"""
