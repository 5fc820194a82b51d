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

import numpy as np


def multinomial_tables(table: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Resample ``table`` of shape ``(F, *cells)`` (counts per finest group): returns ``(B, F, *cells)``.

    Each finest group keeps its size; only its non-empty cells are drawn.
    """
    f = table.shape[0]
    flat = table.reshape(f, -1)
    out = np.zeros((n_boot, f, flat.shape[1]), dtype=np.int64)
    for i in range(f):
        row = flat[i]
        nz = np.flatnonzero(row)
        if len(nz) == 0:
            continue
        total = int(round(row.sum()))
        if len(nz) == 1:
            out[:, i, nz[0]] = total
            continue
        p = row[nz] / row[nz].sum()
        out[:, i, nz] = rng.multinomial(total, p, size=n_boot)
    return out.reshape((n_boot,) + table.shape)


def percentile_interval(reps: np.ndarray, confidence: float, min_defined: float = 0.5
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile interval over axis 0 (linear interpolation, as numpy's default quantile), ignoring
    undefined (NaN) replicates.

    Returns ``(low, high, share_defined)``; the interval is NaN where fewer than ``min_defined`` of
    the replicates are defined.
    """
    reps = np.asarray(reps, dtype=float)
    b = reps.shape[0]
    rest = reps.shape[1:]
    if b == 0:
        nan = np.full(rest, np.nan)
        return nan, nan.copy(), np.zeros(rest)
    alpha = (1.0 - confidence) / 2.0
    finite = np.isfinite(reps)
    if finite.all():  # the common case: partial sorts around the four order statistics needed
        pos = [(b - 1) * q for q in (alpha, 1.0 - alpha)]
        kth = sorted({int(np.floor(x)) for x in pos} | {min(int(np.floor(x)) + 1, b - 1) for x in pos})
        part = np.partition(reps, kth, axis=0)
        out = []
        for x in pos:
            lo = int(np.floor(x))
            hi = min(lo + 1, b - 1)
            out.append(part[lo] + (part[hi] - part[lo]) * (x - lo))
        return out[0], out[1], np.ones(rest)
    clean = np.where(finite, reps, np.nan)
    ordered = np.sort(clean, axis=0)  # NaN sort last
    m = finite.sum(axis=0)
    share = m / b
    out = []
    for q in (alpha, 1.0 - alpha):
        pos = (np.maximum(m, 1) - 1) * q
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(m - 1, 0))
        frac = pos - lo
        a = np.take_along_axis(ordered, lo[None], axis=0)[0]
        c = np.take_along_axis(ordered, hi[None], axis=0)[0]
        val = a + (c - a) * frac
        out.append(np.where((share >= min_defined) & (m > 0), val, np.nan))
    return out[0], out[1], share


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
