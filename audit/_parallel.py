"""The library's two worker threads, for numpy-heavy work split in independent parts while the calling
thread waits: bootstrap draws by group, replicate blocks, interval sorts. The parts spend nearly all
their time in numpy calls that release the GIL, so they run on both cores. (Python-heavy work is never
put on a thread: it would hold the GIL against the numpy-heavy thread and slow both.)"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Iterable

#: where Linux states a container's CPU quota (cgroup v2, then v1)
CGROUP_FILES = (Path("/sys/fs/cgroup/cpu.max"), Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"))

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


def _cgroup_quota(files: tuple[Path, ...] = CGROUP_FILES) -> float | None:
    """CPUs the container's quota allows (``quota / period``), or None when there is no quota."""
    v2, v1 = files
    try:
        quota, period = v2.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int(v1.read_text())
        period = int((v1.parent / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def usable_cpus(files: tuple[Path, ...] = CGROUP_FILES) -> int:
    """CPUs this process may really use: its CPU affinity and the container's CPU quota, not ``os.cpu_count()``
    (which counts the host's CPUs inside a container, and ignores ``taskset``)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_quota(files)
    if quota is not None:
        n = min(n, max(1, math.floor(quota)))
    return max(1, n)


#: fits on fewer rows run on one thread: OpenMP's per-iteration barriers cost more than they save there, and on a
#: busy machine the threads spin waiting for one another (measured: a proxy-scan fit of 4,000 rows took 0.6 s on
#: one thread or two when quiet, 1.0 s on one and 3.1 s on two beside two CPU-bound processes)
SMALL_FIT_ROWS = 50_000


def fit_thread_count(rows: int | None = None) -> int:
    """Threads for one of the library's own fits: the usable CPUs, one for small fits, and one when the machine is
    already busy (the load average reaches the usable CPUs: more threads would only wait for one another)."""
    n = usable_cpus()
    if n > 1 and rows is not None and rows < SMALL_FIT_ROWS:
        return 1
    try:
        busy = os.getloadavg()[0] >= n
    except (AttributeError, OSError):
        busy = False
    return 1 if busy else n


@contextlib.contextmanager
def fit_threads(rows: int | None = None) -> Iterator[int]:
    """Around the library's own model fits (the proxy scan, the reweighed refit): OpenMP thread pools sized by
    :func:`fit_thread_count` (never more than :func:`usable_cpus`), restored afterwards. An OpenMP library left to
    itself starts one busy-waiting thread per host CPU, which on a shared runner (a container's quota of 2 CPUs on a
    64-CPU host) multiplies the wall time."""
    n = fit_thread_count(rows)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency of scikit-learn
        yield n
        return
    with threadpool_limits(limits=n, user_api="openmp"):
        yield n


def parallel_map(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """``[fn(x) for x in items]``, on two threads when the machine has two cores or more (results in
    order; the first exception is raised). Runs inline when called from a worker thread."""
    items = list(items)
    if len(items) < 2 or usable_cpus() < 2 or getattr(_WORKER, "active", False):
        return [fn(x) for x in items]
    global _POOL
    with _LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fairness-audit", initializer=_mark_worker)
    return list(_POOL.map(fn, items))
