"""Outbound transports: each delivers outbox rows over one way of reaching WeCom (or the console)."""

from bot.transports.base import Deferred, DeliveryError, OutgoingMessage, Transport

__all__ = ["Deferred", "DeliveryError", "OutgoingMessage", "Transport"]
