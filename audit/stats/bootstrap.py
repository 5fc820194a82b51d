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


def multinomial_tables(table: np.ndarray, n_boot: int, seed: Sequence[int] | Sequence[np.random.SeedSequence]
                       ) -> np.ndarray:
    """Resample ``table`` of shape ``(F, *cells)`` (counts per finest group): returns ``(B, F, *cells)``.

    Each finest group keeps its size; only its non-empty cells are drawn, from its own random stream:
    ``seed`` is one seed sequence per group (keyed by the group's identity, see
    ``score_boot.identity_seed``) or a plain seed spawned by position. The draws do not depend on how
    the groups are scheduled: large tables are drawn on two threads (numpy releases the GIL while drawing).
    """
    f = table.shape[0]
    flat = table.reshape(f, -1)
    out = np.zeros((n_boot, f, flat.shape[1]), dtype=np.int64)
    if len(seed) == f and all(isinstance(s, np.random.SeedSequence) for s in seed):
        streams = list(seed)
    else:
        streams = np.random.SeedSequence([int(s) for s in seed]).spawn(f)

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
    if work >= _THREADED_DRAWS:
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
    the replicates are defined. All columns are sorted at once (replicates contiguous per column, the
    columns split between two threads), so callers batch every statistic of an audit into one array.
    """
    reps = np.asarray(reps, dtype=float)
    b = reps.shape[0]
    rest = reps.shape[1:]
    if b == 0:
        nan = np.full(rest, np.nan)
        return nan, nan.copy(), np.zeros(rest)
    cols, m = _sorted_columns(reps.reshape(b, -1))
    low, high, share = _column_percentiles(cols, m, confidence, min_defined)
    return low.reshape(rest), high.reshape(rest), share.reshape(rest)


def _sorted_columns(reps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(B, C)`` replicates as ``(C, B)`` rows sorted ascending with undefined values (NaN) last, and the
    number of defined replicates per column."""
    cols = np.ascontiguousarray(reps.T)
    finite = np.isfinite(cols)
    m = finite.sum(axis=1)
    if not finite.all():
        cols[~finite] = np.nan
    half = len(cols) // 2
    if len(cols) >= 64:  # np.sort releases the GIL: two halves on two threads
        parallel_map(lambda part: part.sort(axis=1), [cols[:half], cols[half:]])
    else:
        cols.sort(axis=1)
    return cols, m


def _column_percentiles(cols: np.ndarray, m: np.ndarray, confidence: float, min_defined: float = 0.5
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b = cols.shape[1]
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
        out.append(np.where((share >= min_defined) & (m > 0), val, np.nan))
    return out[0], out[1], share


class IntervalBatch:
    """Collects replicate arrays ``(B, k)`` from many statistics and computes all their percentile
    intervals (and, on request, bootstrap standard errors) in one sort."""

    def __init__(self, confidence: float):
        self.confidence = confidence
        self._reps: list[np.ndarray] = []
        self._want_se: list[bool] = []
        self._start: list[int] = [0]

    def add(self, reps: np.ndarray, se: bool = False) -> int:
        """Queue replicates ``(B, ...)``; ``se=True`` also computes their standard errors."""
        reps = np.asarray(reps, dtype=float)
        self._reps.append(reps.reshape(reps.shape[0], -1))
        self._want_se.append(se)
        self._start.append(self._start[-1] + self._reps[-1].shape[1])
        return len(self._reps) - 1

    def compute(self) -> None:
        if not self._reps:
            return
        cols, m = _sorted_columns(np.concatenate(self._reps, axis=1))
        self._low, self._high, _ = _column_percentiles(cols, m, self.confidence)
        self._se = np.full(len(cols), np.nan)
        for k, want in enumerate(self._want_se):
            if want:
                a, b = self._start[k], self._start[k + 1]
                self._se[a:b] = _row_se(cols[a:b], m[a:b])

    def interval(self, handle: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self._start[handle], self._start[handle + 1]
        return self._low[a:b], self._high[a:b]

    def se(self, handle: int) -> np.ndarray:
        return self._se[self._start[handle]:self._start[handle + 1]]


def _row_se(rows: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Standard deviation (ddof 1) of each row's defined values (NaN where fewer than two)."""
    out = np.full(len(rows), np.nan)
    ok = m >= 2
    if ok.any():
        with np.errstate(invalid="ignore"):
            out[ok] = np.nanstd(rows[ok], axis=1, ddof=1)
    return out

