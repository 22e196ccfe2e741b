"""Opaque, time-ordered identifiers: sorting by id sorts by creation time, which keyset pagination uses."""
from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime


def new_id(prefix: str) -> str:
    return f"{prefix}_{time.time_ns() // 1000:014x}{secrets.token_hex(6)}"


def id_time(id_: str) -> datetime:
    """When an id from new_id was made."""
    micros = int(id_.split("_", 1)[1][:14], 16)
    return datetime.fromtimestamp(micros / 1e6, UTC)
