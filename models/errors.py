"""Errors models/ raises for what the caller gave it, as opposed to its own bugs."""
from __future__ import annotations


class DataError(ValueError):
    """The images, labels or weights given cannot be used as asked; the message says why."""
