"""What every config section shares: strict frozen models and errors that point at a key."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigValueError(ValueError):
    """A validation error that knows which key below the field it is about, for a precise line."""

    def __init__(self, message: str, *config_path: str | int):
        super().__init__(message)
        self.config_path = config_path


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
