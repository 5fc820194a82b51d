"""The core's unit: a sufficient statistic per finest group (every combination of protected groups, and of the
control level when there is one). Each is a table of additive cells, so any reported group (overall, an attribute,
an intersection, within a window) is a sum of finest groups; its bootstrap replicates sum the same way.

``build_context`` takes any number of statistics (``statistics=``). The binary decision's confusion counts are the
first (:class:`ConfusionCounts`, resampled as a multinomial draw per finest group); the score cells of
``stats.scores`` are computed in one sorted pass beside them. A regression or multiclass target plugs in its own:
sums of moments, or a class x class table.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from .bootstrap import multinomial_tables
from .scores import row_chunks


class FinestStatistic(Protocol):
    """What a sufficient statistic declares: the key partitions hold it under (``Partition.stats[key]``), its
    table per finest group ``(F, *cells)`` and that table's bootstrap replicates ``(B, F, *cells)`` (None: no
    replicates), drawn from one stream per finest group (``seeds``, keyed by the group's identity)."""

    key: str

    def table(self, finest: np.ndarray, n_finest: int, y: np.ndarray, model: Any,
              weights: np.ndarray | None) -> np.ndarray: ...

    def replicates(self, table: np.ndarray, n_boot: int, seeds: Sequence[np.random.SeedSequence], finest: np.ndarray,
                   y: np.ndarray, model: Any) -> np.ndarray | None: ...


class ConfusionCounts:
    """``[TN, FP, FN, TP]`` per finest group, streamed over row chunks (``weights``: rows per input row, when the
    inputs are an engine's cells); replicates are a multinomial draw on each group's table, its size fixed (the
    same as resampling its rows)."""

    key = "counts"

    def table(self, finest: np.ndarray, n_finest: int, y: np.ndarray, model: Any,
              weights: np.ndarray | None) -> np.ndarray:
        yhat = model.predictions
        if weights is not None:
            cell = finest.astype(np.int64) * 4 + y.astype(np.int64) * 2 + yhat
            exact = np.zeros(n_finest * 4, dtype=np.int64)
            np.add.at(exact, cell, np.asarray(weights, dtype=np.int64))  # integer sums: exact at any size
            return exact.reshape(n_finest, 4)
        out = np.zeros(n_finest * 4, dtype=np.int64)
        for s in row_chunks(len(y)):
            cell = finest[s].astype(np.int32) * 4
            cell += y[s] * 2
            cell += yhat[s]
            out += np.bincount(cell, minlength=n_finest * 4)
        return out.reshape(n_finest, 4)

    def replicates(self, table: np.ndarray, n_boot: int, seeds: Sequence[np.random.SeedSequence],
                   finest: np.ndarray, y: np.ndarray, model: Any) -> np.ndarray:
        return multinomial_tables(table, n_boot, seeds)


def stack(finest_values: np.ndarray, members: np.ndarray, axis: int) -> np.ndarray:
    """Sum finest-group values (along ``axis``) into every reported group at once: ``members`` is the
    (F, S) 0/1 matrix of which finest groups make up each of the S groups of all partitions."""
    values = np.asarray(finest_values)
    moved = np.moveaxis(values.astype(float, copy=False), axis, -1)
    if values.dtype.kind in "iub":  # counts: exact in any order
        return np.moveaxis(moved @ members, -1, axis)
    # other sums in numpy's fixed order (a BLAS product sums in an order that follows its thread count)
    return np.moveaxis(np.einsum("...f,fs->...s", moved, members), -1, axis)
