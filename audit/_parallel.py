"""The library's two worker threads, for numpy-heavy work split in independent parts while the calling
thread waits: bootstrap draws by group, replicate blocks, interval sorts. The parts spend nearly all
their time in numpy calls that release the GIL, so they run on both cores. (Python-heavy work is never
put on a thread: it would hold the GIL against the numpy-heavy thread and slow both.)"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable

_POOL: ThreadPoolExecutor | None = None
_LOCK = threading.Lock()
_WORKER = threading.local()


def _mark_worker() -> None:
    _WORKER.active = True


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: start a new pool on first use."""
    global _POOL, _LOCK
    _POOL = None
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def parallel_map(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """``[fn(x) for x in items]``, on two threads when the machine has two cores or more (results in
    order; the first exception is raised). Runs inline when called from a worker thread."""
    items = list(items)
    if len(items) < 2 or (os.cpu_count() or 1) < 2 or getattr(_WORKER, "active", False):
        return [fn(x) for x in items]
    global _POOL
    with _LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fairness-audit", initializer=_mark_worker)
    return list(_POOL.map(fn, items))
