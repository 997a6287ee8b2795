"""SQLAlchemy 2.x models, one module per aggregate; import them all so Alembic and metadata see every table."""

from models.base import Base
from models.outbox import OutboxMessage
from models.processed_event import ProcessedEvent

__all__ = ["Base", "OutboxMessage", "ProcessedEvent"]
