"""Errors models/ raises for what the caller gave it, as opposed to its own bugs."""
from __future__ import annotations


class DataError(ValueError):
    """The images, labels or weights given cannot be used as asked; the message says why."""


class OptionError(DataError):
    """An option given for a model that it cannot take; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
