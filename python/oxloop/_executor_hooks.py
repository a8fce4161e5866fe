"""Python helpers the Rust executors call: thread naming, initializer-failure
logging. Kept tiny; the pools themselves are in Rust (`src/executors/`)."""

from __future__ import annotations

import threading
from concurrent.futures import _base


def name_worker_thread(name: str) -> None:
    """Give the calling worker thread its `threading` name, as
    `concurrent.futures` names its threads (``prefix_N``)."""
    threading.current_thread().name = name


def forget_worker_thread() -> None:
    """Drop the exiting worker's entry from `threading`'s thread table."""
    threading._active.pop(threading.get_ident(), None)


def log_initializer_failure(exc: BaseException) -> None:
    """Log a failed initializer the way `concurrent.futures` does."""
    _base.LOGGER.critical("Exception in initializer:", exc_info=exc)
