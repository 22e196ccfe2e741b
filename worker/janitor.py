"""Removes objects that no row owns (core/orphans.py), periodically, in each worker's main process.

Several workers may sweep at once: every deletion is of something no row owns, so they cannot conflict.
"""
from __future__ import annotations

import logging
import threading

from core.db import session_scope
from core.orphans import retention, sweep_store
from core.settings import get_settings
from core.storage import get_store

log = logging.getLogger(__name__)
_stop = threading.Event()


def sweep_once() -> list[str]:
    with session_scope() as session:
        return sweep_store(session, get_store(), retention(get_settings()))


def _loop() -> None:
    interval = get_settings().store_sweep_interval_seconds
    while not _stop.wait(interval):
        try:
            sweep_once()
        except Exception:
            log.exception("store sweep failed")


def start() -> None:
    _stop.clear()
    threading.Thread(target=_loop, name="store-sweep", daemon=True).start()


def stop() -> None:
    _stop.set()
