"""A regression model's audit of data an engine holds (issue 20): its predictions as a column, the rows never
collected.

Two queries. A pre-pass gives the rows, the ranges of the prediction, label and residual, the bad values (refused
naming the column) and the median prediction (the scoring cut, the engine's own median). Then one grouped scan by
(protected groups, prediction bucket) gives every cell's rows, rows above the cut and, in fixed point, the sums of
the eight regression columns and of their centred cross-products: integers held in doubles, exact in any order the
engine adds them, so every engine and every rerun gives the same tables. Each sum's scale is a power of two chosen
from the pre-pass's bounds so that the total stays below 2**53: each sum is off by at most (rows / 2**53) of its
bound, about 1e-9 at 10 million rows.

From the cells: each finest group's sums and covariance (about a fixed centre, so that no digits cancel), its
replicates (normal sums with that covariance, as in memory above ``exact_rows``); the finest groups of at most
``exact_rows`` rows are pulled whole (one filtered query) and resampled row by row exactly as in memory. The
distances between groups' predictions come from the bucket histograms: each group's distribution function at the
4,096 bucket edges, the KS statistic and Wasserstein-1 distance with a stated bound on their error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..config import AuditConfig
from ..exceptions import InputError
from ..stats.moments import COLUMNS, group_replicates, normal_sums

K = len(COLUMNS)
ONE, P, Y, R, ABS_R, SQ_R, SQ_Y, ABOVE = range(K)
PREFIX = "_fa_r_"
BUCKET, N, LO, HI = PREFIX + "b", PREFIX + "n", PREFIX + "lo", PREFIX + "hi"
PAIRS = [(j, k) for j in range(1, K) for k in range(j, K)]  # centred cross-products (the count column has none)


def _name(j: int, k: int | None = None) -> str:
    return f"{PREFIX}s{j}" if k is None else f"{PREFIX}c{j}_{k}"


@dataclass(frozen=True)
class Bounds:
    """What the pre-pass found: rows, ranges, the cut; each column's centre and half-width."""

    n: int
    p_lo: float
    p_hi: float
    y_lo: float
    y_hi: float
    r_max: float
    cut: float

    def column_ranges(self) -> list[tuple[float, float]]:
        r = self.r_max
        y2 = (0.0 if self.y_lo <= 0 <= self.y_hi else min(self.y_lo ** 2, self.y_hi ** 2), max(self.y_lo ** 2,
                                                                                              self.y_hi ** 2))
        return [(1.0, 1.0), (self.p_lo, self.p_hi), (self.y_lo, self.y_hi), (-r, r), (0.0, r), (0.0, r * r), y2,
                (0.0, 1.0)]

    def centres(self) -> np.ndarray:
        return np.array([(lo + hi) / 2 for lo, hi in self.column_ranges()])

    def half_widths(self) -> np.ndarray:
        return np.array([max((hi - lo) / 2, 0.0) for lo, hi in self.column_ranges()])

    def magnitudes(self) -> np.ndarray:
        return np.array([max(abs(lo), abs(hi)) for lo, hi in self.column_ranges()])


def _scale(bound: float, n: int) -> float:
    """The power of two that keeps ``n`` terms of at most ``bound`` below 2**52 once scaled (1 for a zero bound)."""
    if not (bound > 0 and math.isfinite(bound)):
        return 1.0
    return float(2.0 ** math.floor(math.log2((2.0 ** 52) / (max(n, 1) * bound))))


def prepass(frame: Any, label: str, prediction: str, cut: float | None) -> Bounds:
    """Rows, ranges and bad values of the label and prediction columns; the median prediction."""
    import narwhals as nw

    from . import scan

    p, y = nw.col(prediction), nw.col(label)
    aggs = [nw.len().alias("n"), p.min().alias("p_lo"), p.max().alias("p_hi"), y.min().alias("y_lo"),
            y.max().alias("y_hi"), (p - y).abs().max().alias("r_max"),
            (p.is_null() | ~p.is_finite()).cast(nw.Int64).sum().alias("p_bad"),
            (y.is_null() | ~y.is_finite()).cast(nw.Int64).sum().alias("y_bad")]
    if cut is None:
        aggs.append(p.median().alias("median"))
    out = scan._to_pandas(frame.select(*aggs)).iloc[0]
    for col, what, bad in ((label, "label", "y_bad"), (prediction, "predictions", "p_bad")):
        if int(out[bad] or 0):
            raise InputError(f"{what} column {col!r} has {int(out[bad]):,} missing, NaN or infinite value(s): every "
                             "row needs a finite number. Drop or fix those rows.", code="nonfinite_values",
                             column=col)
    n = int(out["n"])
    if n == 0:
        raise InputError("the data has zero rows: an audit needs at least one row per group.", code="no_rows")
    return Bounds(n, float(out["p_lo"]), float(out["p_hi"]), float(out["y_lo"]), float(out["y_hi"]),
                  float(out["r_max"]), float(out["median"]) if cut is None else float(cut))


def scan_expressions(label: str, prediction: str, b: Bounds, buckets: int) -> tuple[dict[str, Any], list[Any],
                                                                                      dict[str, float]]:
    """The cell columns (bucket), the aggregations and each fixed-point sum's scale."""
    import narwhals as nw

    p, y = nw.col(prediction).cast(nw.Float64), nw.col(label).cast(nw.Float64)
    r = p - y
    above = nw.when(p > b.cut).then(nw.lit(1.0)).otherwise(nw.lit(0.0))
    v = [nw.lit(1.0), p, y, r, r.abs(), r * r, y * y, above]
    centre, half, mag = b.centres(), b.half_widths(), b.magnitudes()
    scales: dict[str, float] = {}
    cols: dict[str, Any] = {}
    width = b.p_hi - b.p_lo
    cols[BUCKET] = (nw.lit(0.0) if width <= 0 else
                    nw.min_horizontal(((p - b.p_lo) * (buckets / width)).floor(), nw.lit(float(buckets - 1))))
    for j in range(1, K):  # first moments
        if j == ABOVE:
            cols[_name(j)] = above
            scales[_name(j)] = 1.0
            continue
        s = _scale(mag[j], b.n)
        scales[_name(j)] = s
        cols[_name(j)] = (v[j] * s + 0.5).floor()
    for j, k in PAIRS:  # centred cross-products
        s = _scale(max(half[j], 1e-300) * max(half[k], 1e-300) * 4.0 + 1e-300, b.n)
        scales[_name(j, k)] = s
        cols[_name(j, k)] = ((v[j] - centre[j]) * (v[k] - centre[k]) * s + 0.5).floor()
    aggs = [nw.len().alias(N), p.min().alias(LO), p.max().alias(HI),
            *(nw.col(c).sum().alias(c) for c in cols if c != BUCKET)]
    return cols, aggs, scales


@dataclass
class RegressionCells:
    """The scan's cells and what the statistic needs from them."""

    cells: pd.DataFrame
    bounds: Bounds
    scales: dict[str, float]
    buckets: int
    exact_rows: pd.DataFrame  # the rows of the small finest groups: protected columns, label, prediction


class CellRegressionSums:
    """``FinestStatistic`` of a regression model from an engine's cells: each finest group's sums from the cells'
    fixed-point sums (small groups: from their pulled rows, exactly as in memory), replicates row by row for the
    small groups and normal sums with the cells' covariance for the others; and the bucket histogram of each finest
    group's predictions for the distances."""

    key = "regression"

    def __init__(self, rc: RegressionCells, protected: Sequence[str], label: str, prediction: str,
                 exact_rows: int = 4000):
        self.rc, self.protected, self.label, self.prediction = rc, list(protected), label, prediction
        self.exact_rows = int(exact_rows)
        self.cut = rc.bounds.cut
        self._small: dict[int, np.ndarray] = {}
        self._cov: dict[int, np.ndarray] = {}
        self.histograms: np.ndarray | None = None
        # each bucket's smallest and largest prediction over all rows (a bucket of one value adds no error)
        cells = rc.cells
        b = cells[BUCKET].to_numpy(np.int64)
        lo, hi = np.full(rc.buckets, np.inf), np.full(rc.buckets, -np.inf)
        np.minimum.at(lo, b, cells[LO].to_numpy(float))
        np.maximum.at(hi, b, cells[HI].to_numpy(float))
        self.bucket_lo, self.bucket_hi = lo, hi
        self.edges = np.linspace(rc.bounds.p_lo, rc.bounds.p_hi, rc.buckets + 1)

    def values_of(self, p: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = p - y
        return np.stack([np.ones_like(p), p, y, r, np.abs(r), r * r, y * y, (p > self.cut).astype(np.float64)],
                        axis=1)

    def table(self, finest: np.ndarray, n_finest: int, y: np.ndarray, model: Any,
              weights: np.ndarray | None) -> np.ndarray:
        cells, scales, b = self.rc.cells, self.rc.scales, self.rc.bounds
        n = np.bincount(finest, weights=cells[N].to_numpy(float), minlength=n_finest)
        totals = np.zeros((n_finest, K))
        totals[:, ONE] = n
        for j in range(1, K):
            totals[:, j] = np.bincount(finest, weights=cells[_name(j)].to_numpy(float), minlength=n_finest) \
                / scales[_name(j)]
        centre = b.centres()
        for f in range(n_finest):
            cross = np.zeros((K, K))
            for j, k in PAIRS:
                c = float(cells[_name(j, k)].to_numpy(float)[finest == f].sum()) / scales[_name(j, k)]
                cross[j, k] = cross[k, j] = c
            mean_shift = np.where(n[f] > 0, totals[f] / max(n[f], 1.0), 0.0) - centre
            mean_shift[ONE] = 0.0
            cov = cross - n[f] * np.outer(mean_shift, mean_shift)
            cov[ONE, :] = cov[:, ONE] = 0.0
            self._cov[f] = cov
        # each finest group's histogram of predictions over the buckets
        bucket = cells[BUCKET].to_numpy(np.int64)
        hist = np.zeros(n_finest * self.rc.buckets)
        np.add.at(hist, finest.astype(np.int64) * self.rc.buckets + bucket, cells[N].to_numpy(float))
        self.histograms = hist.reshape(n_finest, self.rc.buckets)
        # the small groups' rows, exactly as in memory (sums and, below, replicates)
        rows = self.rc.exact_rows
        if len(rows):
            keys = cells[self.protected].assign(_f=finest).drop_duplicates(self.protected)
            merged = rows.merge(keys, on=self.protected, how="left")
            fin = merged["_f"].to_numpy(np.int64)
            p = merged[self.prediction].to_numpy(np.float64)
            yv = merged[self.label].to_numpy(np.float64)
            for f in np.unique(fin):
                idx = np.flatnonzero(fin == f)
                idx = idx[np.lexsort((yv[idx], p[idx]))]  # canonical order (by prediction, then label)
                self._small[int(f)] = self.values_of(p[idx], yv[idx])
                totals[f] = self._small[int(f)].sum(0)
        return totals

    def replicates(self, table: np.ndarray, n_boot: int, seeds: Sequence[np.random.SeedSequence],
                   finest: np.ndarray, y: np.ndarray, model: Any) -> np.ndarray:
        out = np.zeros((n_boot, len(table), K))
        for f, seq in enumerate(seeds):
            n = int(round(table[f, ONE]))
            if n == 0:
                continue
            rng = np.random.default_rng(seq)
            if f in self._small:
                out[:, f] = group_replicates(self._small[f], n_boot, rng, self.exact_rows)
            else:
                out[:, f] = normal_sums(table[f], self._cov[f], n, n_boot, rng)
        return out


def bucket_distances(hist: np.ndarray, lo: np.ndarray, hi: np.ndarray, reference: int) -> dict[str, np.ndarray]:
    """KS and Wasserstein-1 distances of each group's predictions (histograms over buckets ``(G, B)``; ``lo`` and
    ``hi``: each bucket's smallest and largest prediction) from the reference's, with bounds on their error. Between
    buckets the distribution functions are exact (no value lies there); inside a bucket holding several values they
    are known only at its ends: the exact KS statistic lies between the value at the buckets' ends and that plus the
    largest mass of the two groups in such a bucket, and the Wasserstein-1 distance within the sum of each such
    bucket's spread times the two groups' masses in it. Both are exact when every bucket holds one value. p-values
    (KS) from the statistic's distribution (kstwo up to an effective size of 100,000 rows, its Kolmogorov limit
    above)."""
    from scipy.stats import distributions

    from ..stats.moments import KSTWO_LIMIT

    G, B = hist.shape
    used = np.flatnonzero(hist.sum(0) > 0)  # buckets holding rows, in order
    hist, lo, hi = hist[:, used], lo[used], hi[used]
    spread = np.where(np.isfinite(hi - lo), hi - lo, 0.0)
    gaps = lo[1:] - hi[:-1]  # between one bucket's largest value and the next bucket's smallest: no value
    n = hist.sum(1)
    cdf = np.cumsum(hist, axis=1) / np.where(n > 0, n, 1.0)[:, None]  # after each bucket's last value
    out = {k: np.full(G, np.nan) for k in ("ks_distance", "ks_p_value", "wasserstein_distance", "ks_bound",
                                            "wasserstein_bound")}
    if n[reference] == 0:
        return out
    several = spread > 0
    for g in range(G):
        if n[g] == 0:
            continue
        if g == reference:
            for k, v in (("ks_distance", 0.0), ("ks_p_value", 1.0), ("wasserstein_distance", 0.0), ("ks_bound", 0.0),
                         ("wasserstein_bound", 0.0)):
                out[k][g] = v
            continue
        diff = cdf[g] - cdf[reference]
        mass = hist[g] / n[g] + hist[reference] / n[reference]
        ks = float(np.max(np.abs(diff)))
        out["ks_distance"][g] = ks
        # inside a bucket the difference moves by the two groups' masses there, from its value before the bucket
        # to its value after: its largest size there is at most this
        mg, mr = hist[g] / n[g], hist[reference] / n[reference]
        before = np.r_[0.0, diff[:-1]]
        top = np.minimum(before + mg, diff + mr)
        bottom = np.maximum(before - mr, diff - mg)
        inside = np.maximum(top, -bottom)
        out["ks_bound"][g] = float(max(np.max(inside[several], initial=0.0) - ks, 0.0))
        # between buckets exact; inside a bucket the difference taken as after its last value
        out["wasserstein_distance"][g] = float(np.sum(np.abs(diff[:-1]) * gaps) + np.sum(np.abs(diff) * spread))
        out["wasserstein_bound"][g] = float(np.sum(spread * mass))
        m_, n_ = sorted([float(n[g]), float(n[reference])], reverse=True)
        en = np.round(m_ * n_ / (m_ + n_))
        out["ks_p_value"][g] = float(np.clip(distributions.kstwo.sf(ks, en) if en <= KSTWO_LIMIT
                                             else distributions.kstwobign.sf(ks * np.sqrt(en)), 0, 1))
    return out


def scan_regression(source: Any, *, label: str, protected: Sequence[str], prediction: str, cfg: AuditConfig,
                    cut: float | None) -> RegressionCells:
    """The pre-pass, the grouped scan and the small groups' rows of data an engine holds."""
    import narwhals as nw

    from . import scan

    frame = source.frame
    b = prepass(frame, label, prediction, cut)
    cols, aggs, scales = scan_expressions(label, prediction, b, cfg.score_buckets)
    query = frame.with_columns(**cols).group_by(*protected, BUCKET).agg(*aggs)
    cells = scan._to_pandas(query)
    miss = cells[list(protected)].isna().any(axis=1)
    if miss.any():
        col = next(c for c in protected if cells.loc[miss, c].isna().any())
        raise InputError(f"protected column {col!r} has {int(cells.loc[cells[col].isna(), N].sum()):,} missing "
                         "value(s) (NULL/NaN). Drop or fill those rows before auditing (an explicit 'unknown' "
                         "category is usually better than dropping).", code="missing_values", column=col)
    cells[N] = cells[N].astype(np.int64)
    cells[BUCKET] = cells[BUCKET].astype(np.float64).astype(np.int64)
    for c in cells.columns:  # one dtype per column whatever the engine returned (the cells' fingerprint hashes them)
        if c.startswith(PREFIX) and c not in (N, BUCKET):
            cells[c] = cells[c].astype(np.float64)
    cells = cells.sort_values([*protected, BUCKET], kind="stable", ignore_index=True)
    sizes = cells.groupby(list(protected), dropna=False, sort=False, observed=True)[N].sum().reset_index()
    small = sizes[sizes[N] <= cfg.exact_score_rows]
    rows = pd.DataFrame(columns=[*protected, label, prediction])
    if len(small):
        cond = None
        for _, s in small.iterrows():
            term = None
            for c in protected:
                t = nw.col(c) == s[c]
                term = t if term is None else term & t
            cond = term if cond is None else cond | term
        rows = scan._to_pandas(frame.filter(cond).select(*protected, label, prediction))
    return RegressionCells(cells, b, scales, cfg.score_buckets, rows)
