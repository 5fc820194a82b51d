"""The library's worker threads: results in order, errors raised, usable after a fork."""

from __future__ import annotations

import multiprocessing
import sys

import numpy as np
import pytest

from audit._parallel import parallel_map


def test_parallel_map_keeps_order_and_raises_the_first_error():
    assert parallel_map(lambda x: x * x, range(10)) == [x * x for x in range(10)]

    def boom(x):
        if x == 3:
            raise ValueError("three")
        return x

    with pytest.raises(ValueError, match="three"):
        parallel_map(boom, range(6))


def _child(queue):
    queue.put(parallel_map(lambda a: float(np.sort(a)[0]), [np.arange(5.0), np.arange(3.0, 9.0)]))


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_pool_works_in_a_forked_child_after_the_parent_used_it():
    parallel_map(abs, [-1, -2])  # the parent's pool exists now
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue,))
    proc.start()
    proc.join(timeout=60)
    assert proc.exitcode == 0
    assert queue.get(timeout=5) == [0.0, 3.0]
