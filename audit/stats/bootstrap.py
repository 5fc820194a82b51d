"""Bootstrap draws on small tables instead of rows.

Resampling the rows of a group with replacement gives, for any table of counts over that group's
rows, a multinomial draw with the group's size and the table's proportions. So 1,000 resamples of
the confusion counts of a group cost 1,000 four-cell multinomial draws, whatever the number of
rows. Groups are resampled independently with their sizes fixed (a stratified bootstrap): the
finest partition (every combination of protected attributes) is drawn once, and every coarser
group (an attribute, a pair, the overall population) is a sum of finest groups, so all intervals of
an audit come from one consistent set of resamples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._parallel import parallel_map

#: draws (replicates x non-empty cells) above which the groups are drawn on two threads
_THREADED_DRAWS = 20_000
#: measured nanoseconds per resampled row (categorical draw) and per cell (binomial) of a multinomial draw
_ROW_DRAW_COST, _CELL_DRAW_COST = 9, 120


def multinomial_tables(table: np.ndarray, n_boot: int, seed: Sequence[int], threads: bool = True) -> np.ndarray:
    """Resample ``table`` of shape ``(F, *cells)`` (counts per finest group): returns ``(B, F, *cells)``.

    Each finest group keeps its size; only its non-empty cells are drawn, from its own random stream
    (spawned from ``seed`` by group position), so the draws do not depend on how the groups are
    scheduled: with ``threads``, large tables are drawn on two threads (numpy releases the GIL while
    drawing).
    """
    f = table.shape[0]
    flat = table.reshape(f, -1)
    out = np.zeros((n_boot, f, flat.shape[1]), dtype=np.int64)
    streams = np.random.SeedSequence(list(seed)).spawn(f)

    def draw(i: int) -> None:
        row = flat[i]
        nz = np.flatnonzero(row)
        if len(nz) == 0:
            return
        total = int(round(row.sum()))
        if len(nz) == 1:
            out[:, i, nz[0]] = total
            return
        rng = np.random.default_rng(streams[i])
        if total * _ROW_DRAW_COST < len(nz) * _CELL_DRAW_COST and total < 65536:
            # few rows per cell: draw the rows themselves (a categorical draw per row), cheaper than
            # one binomial per cell; the counts have the same multinomial distribution
            rowcell = np.repeat(np.arange(len(nz), dtype=np.intp), row[nz].round().astype(np.int64))
            picks = rowcell[rng.integers(0, total, size=(n_boot, total), dtype=np.uint16)]
            picks += (np.arange(n_boot, dtype=np.intp) * len(nz))[:, None]
            out[:, i, nz] = np.bincount(picks.ravel(), minlength=n_boot * len(nz)).reshape(n_boot, len(nz))
        else:
            out[:, i, nz] = rng.multinomial(total, row[nz] / row[nz].sum(), size=n_boot)

    work = n_boot * int(np.count_nonzero(flat))
    if threads and work >= _THREADED_DRAWS:
        # largest groups first, so the two threads finish together
        parallel_map(draw, sorted(range(f), key=lambda i: -np.count_nonzero(flat[i])))
    else:
        for i in range(f):
            draw(i)
    return out.reshape((n_boot,) + table.shape)


def percentile_interval(reps: np.ndarray, confidence: float, min_defined: float = 0.5
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile interval over axis 0 (linear interpolation, as numpy's default quantile), ignoring
    undefined (NaN or infinite) replicates.

    Returns ``(low, high, share_defined)``; the interval is NaN where fewer than ``min_defined`` of
    the replicates are defined. All columns are sorted in one call (replicates contiguous per column),
    so callers batch every statistic of an audit into one array.
    """
    reps = np.asarray(reps, dtype=float)
    b = reps.shape[0]
    rest = reps.shape[1:]
    if b == 0:
        nan = np.full(rest, np.nan)
        return nan, nan.copy(), np.zeros(rest)
    cols = np.ascontiguousarray(reps.reshape(b, -1).T)
    finite = np.isfinite(cols)
    m = finite.sum(axis=1)
    if not finite.all():
        cols[~finite] = np.nan  # NaN sort last
    cols.sort(axis=1)
    share = m / b
    alpha = (1.0 - confidence) / 2.0
    out = []
    for q in (alpha, 1.0 - alpha):
        pos = (np.maximum(m, 1) - 1) * q
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(m - 1, 0))
        a = np.take_along_axis(cols, lo[:, None], axis=1)[:, 0]
        c = np.take_along_axis(cols, hi[:, None], axis=1)[:, 0]
        val = a + (c - a) * (pos - lo)
        out.append(np.where((share >= min_defined) & (m > 0), val, np.nan).reshape(rest))
    return out[0], out[1], share.reshape(rest)


class IntervalBatch:
    """Collects replicate arrays ``(B, k)`` from many statistics and computes all their percentile
    intervals (and, on request, bootstrap standard errors) in one sort."""

    def __init__(self, confidence: float):
        self.confidence = confidence
        self._reps: list[np.ndarray] = []
        self._want_se: list[bool] = []
        self._low = self._high = self._se = None

    def add(self, reps: np.ndarray, se: bool = False) -> int:
        """Queue replicates ``(B, ...)``; ``se=True`` also computes their standard errors."""
        reps = np.asarray(reps, dtype=float)
        self._reps.append(reps.reshape(reps.shape[0], -1))
        self._want_se.append(se)
        return len(self._reps) - 1

    def compute(self) -> None:
        if not self._reps:
            return
        cut = np.cumsum([r.shape[1] for r in self._reps])[:-1]
        low, high, _ = percentile_interval(np.concatenate(self._reps, axis=1), self.confidence)
        self._low, self._high = np.split(low, cut), np.split(high, cut)
        self._se = [bootstrap_se(r) if want else None for r, want in zip(self._reps, self._want_se)]

    def interval(self, handle: int) -> tuple[np.ndarray, np.ndarray]:
        return self._low[handle], self._high[handle]

    def se(self, handle: int) -> np.ndarray:
        return self._se[handle]


def bootstrap_se(reps: np.ndarray) -> np.ndarray:
    """Standard deviation over defined replicates (axis 0)."""
    reps = np.asarray(reps, dtype=float)
    with np.errstate(invalid="ignore"):
        masked = np.where(np.isfinite(reps), reps, np.nan)
        cnt = np.isfinite(reps).sum(0)
        out = np.full(reps.shape[1:], np.nan)
        ok = cnt >= 2
        if ok.any():
            out[ok] = np.nanstd(masked[:, ok], axis=0, ddof=1)
    return out
