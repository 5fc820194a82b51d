"""Score statistics of every group from an engine's cells (protected groups x label x prediction x score bucket x
calibration bin, with rows, fixed-point score sums and the score range of each cell).

* Brier score, log loss, mean score, calibration in the large and ECE are exact up to the fixed-point rounding of
  the sums (each row off by at most 3e-8): they are sums of per-row terms, and calibration bins are whole cells.
* ROC AUC and average precision treat the scores within one bucket (split at calibration-bin edges) as tied. Where a group's bucket holds one
  score value (every bucket when the scores have few distinct values) that *is* the data's tie, and the value is
  exact. Otherwise the error is bounded from the cells alone: a (positive, negative) pair inside one bucket adds
  one half instead of 0 or 1, so ROC AUC is within ``sum_b pos_b neg_b / 2`` (over mixed buckets) ``/ (P N)``;
  the positives of a bucket add between ``sum_j (T + j) / (A + k + j)`` (its negatives first) and
  ``m (T + m) / (A + m)`` (its positives tied at the top) to the precision sum, whatever the order inside it.
  Both bounds are reported per group.
* Replicates: groups of up to ``exact_score_rows`` rows are resampled row by row (each row carrying its cell's
  bucket, label, calibration bin and mean terms); larger groups on cells of their own quantile bins of the buckets,
  as in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import metrics as _catalogue
from ..config import AuditConfig
from ..stats.score_boot import group_replicates
from . import scan

PROB_METRICS = _catalogue.PROBABILITY_ONLY_ORDERED


@dataclass(frozen=True)
class CellArrays:
    """The cells as arrays, in one canonical order (so results do not depend on the order an engine returns them)."""

    y: np.ndarray  # 0/1 per cell
    n: np.ndarray  # rows per cell (int64)
    bucket: np.ndarray  # score bucket per cell
    cal: np.ndarray  # calibration bin per cell
    score: np.ndarray | None  # score sum per cell (float, from the fixed-point sum)
    brier: np.ndarray | None
    logloss: np.ndarray | None
    lo: np.ndarray
    hi: np.ndarray


def cell_arrays(cells: Any, y: np.ndarray, probability: bool) -> CellArrays:
    def col(name: str, dtype: Any) -> np.ndarray:
        return cells[name].to_numpy(dtype=dtype)

    fix = (lambda name, scale: col(name, np.int64).astype(np.float64) / scale) if probability else None
    return CellArrays(
        y=y.astype(np.int64), n=col(scan.N, np.int64), bucket=col(scan.BUCKET, np.int64), cal=col(scan.CAL, np.int64),
        score=fix(scan.S_SCORE, scan.FIX_SCORE) if fix else None,
        brier=fix(scan.S_BRIER, scan.FIX_SCORE) if fix else None,
        logloss=fix(scan.S_LOG, scan.FIX_LOG) if fix else None,
        lo=col(scan.LO, np.float64), hi=col(scan.HI, np.float64))


def _digamma(x: np.ndarray) -> np.ndarray:
    from scipy.special import digamma

    return digamma(x)


def rank_metrics(pos: np.ndarray, neg: np.ndarray, mixed: np.ndarray) -> dict[str, np.ndarray]:
    """ROC AUC and average precision of groups ``(G, nb)`` of bucket counts (ascending buckets), and bounds on
    their error where a bucket holds several distinct scores (``mixed``)."""
    P, N = pos.sum(1), neg.sum(1)
    below_neg = np.cumsum(neg, 1) - neg
    tp_at = np.cumsum(pos[:, ::-1], 1)[:, ::-1]  # positives at or above each bucket
    all_at = np.cumsum((pos + neg)[:, ::-1], 1)[:, ::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (pos * (below_neg + 0.5 * neg)).sum(1) / (P * N)
        auc_err = 0.5 * (pos * neg * mixed).sum(1) / (P * N)
        est = np.where(pos > 0, pos * tp_at / np.maximum(all_at, 1), 0.0)
        ap = est.sum(1) / P
        m, k = pos, neg
        T = tp_at - m  # positives strictly above the bucket
        A = all_at - m - k  # rows strictly above
        upper = np.where(m > 0, m * (T + m) / np.maximum(A + m, 1), 0.0)
        lower = np.where(m > 0, m - (A + k - T) * (_digamma(A + k + m + 1) - _digamma(A + k + 1)), 0.0)
        use = mixed & (m > 0)
        ap_err = np.maximum(((upper - est) * use).sum(1), ((est - lower) * use).sum(1)) / P
    ok = (P > 0) & (N > 0)
    return {"roc_auc": np.where(ok, auc, np.nan), "average_precision": np.where(P > 0, ap, np.nan),
            "roc_auc_error": np.where(ok, np.maximum(auc_err, 0.0), np.nan),
            "average_precision_error": np.where(P > 0, np.maximum(ap_err, 0.0), np.nan)}


def _cells_by_level(finest: np.ndarray, specs: list) -> dict[Any, np.ndarray]:
    """The cells of each level of a control axis (ascending), from one pass: a level's finest groups are those its
    specs map (an engine's cells of 52 windows are then read once per window, not once per window and spec)."""
    levels = list(dict.fromkeys(getattr(sp, "level", None) for sp in specs))
    if levels == [None]:
        return {}
    fin_level = np.full(len(specs[0].fmap), -1, dtype=np.int64)
    for k, level in enumerate(levels):
        if level is None:
            continue
        for sp in specs:
            if getattr(sp, "level", None) == level:
                fin_level[sp.fmap >= 0] = k
    cell_level = fin_level[finest]
    order = np.argsort(cell_level, kind="stable")
    bounds = np.searchsorted(cell_level[order], np.arange(len(levels) + 1))
    return {level: order[bounds[k]:bounds[k + 1]] for k, level in enumerate(levels) if level is not None}


class CellScoreStatistics:
    """``score_statistics`` for :func:`audit._context.build_context`: score metrics and replicates of every
    reported group from the cells; the error bounds of ROC AUC and AP are kept in ``errors``."""

    def __init__(self, cells: CellArrays, probability: bool, config: AuditConfig):
        self.c, self.probability, self.config = cells, probability, config
        self.errors: dict[str, np.ndarray] = {}

    def __call__(self, finest: np.ndarray, specs: list, counts: np.ndarray, offsets: np.ndarray
                 ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        c, cfg = self.c, self.config
        K, E = cfg.score_bins, (cfg.calibration_bins if self.probability else 1)
        # the unit of ties is a bucket's part within one calibration bin: a bucket straddling a calibration edge is
        # split there (still in score order), so a tie never mixes calibration bins, as it cannot in memory
        unit = c.bucket * E + c.cal if self.probability else c.bucket
        ub, bidx = np.unique(unit, return_inverse=True)
        nb = len(ub)
        S = int(offsets[-1])
        point = {k: np.full(S, np.nan) for k in ("roc_auc", "average_precision", "roc_auc_error",
                                                 "average_precision_error")}
        group_cells: list[dict[str, np.ndarray]] = []
        members_of: list[tuple[np.ndarray | None, np.ndarray]] = []  # per partition: (its cells, their groups)
        level_cells = _cells_by_level(finest, specs)
        for p, spec in enumerate(specs):
            G = len(spec.groups)
            idx = level_cells.get(getattr(spec, "level", None))  # a control axis: only that level's cells
            g = spec.fmap[finest if idx is None else finest[idx]].astype(np.int64)
            if idx is not None or not bool((g >= 0).all()):
                keep = g >= 0
                idx = np.flatnonzero(keep) if idx is None else idx[keep]
                g = g[keep]
            members_of.append((idx, g))
            sel = (lambda v: v) if idx is None else (lambda v, idx=idx: v[idx])
            bv, cn, cy = sel(bidx), sel(c.n), sel(c.y)
            key = g * nb + bv
            pos = np.bincount(key, weights=cn * cy, minlength=G * nb).reshape(G, nb)
            tot = np.bincount(key, weights=cn, minlength=G * nb).reshape(G, nb)
            neg = tot - pos
            lo = np.full(G * nb, np.inf)
            hi = np.full(G * nb, -np.inf)
            np.minimum.at(lo, key, sel(c.lo))
            np.maximum.at(hi, key, sel(c.hi))
            mixed = (hi > lo).reshape(G, nb)
            rm = rank_metrics(pos, neg, mixed)
            a, b = offsets[p], offsets[p + 1]
            for k in point:
                point[k][a:b] = rm[k]
            # each group's quantile bins of its own buckets (a bucket is a tie run), as the in-memory cells
            n_g = np.maximum(tot.sum(1), 1)
            below = np.cumsum(tot, 1) - tot
            qbin = (below * K // n_g[:, None]).astype(np.int64)[g, bv]
            ckey = ((g * 2 + cy) * K + qbin) * E + (sel(c.cal) if self.probability else 0)
            size = G * 2 * K * E
            shape = (G, 2, K, E)
            gc = {"count": np.bincount(ckey, weights=cn, minlength=size).reshape(shape)}
            if self.probability:
                gc["score"] = np.bincount(ckey, weights=sel(c.score), minlength=size).reshape(shape)
                gc["brier"] = np.bincount(ckey, weights=sel(c.brier), minlength=size).reshape(shape)
                gc["logloss"] = np.bincount(ckey, weights=sel(c.logloss), minlength=size).reshape(shape)
            else:
                gc["score"] = np.zeros(shape)
            group_cells.append(gc)
        from .._context import cell_point_metrics

        point.update(cell_point_metrics(group_cells, self.probability))
        self.errors = {"roc_auc": point.pop("roc_auc_error"), "average_precision": point.pop("average_precision_error")}
        boot: dict[str, np.ndarray] = {}
        if cfg.n_bootstrap:
            boot = self._replicates(specs, offsets, counts, members_of, group_cells, point, bidx, E)
        return point, boot

    def _replicates(self, specs: list, offsets: np.ndarray, counts: np.ndarray, members_of: list[np.ndarray],
                    group_cells: list[dict[str, np.ndarray]], point: dict[str, np.ndarray], bidx: np.ndarray,
                    E: int) -> dict[str, np.ndarray]:
        c, cfg, B = self.c, self.config, self.config.n_bootstrap
        names = ("roc_auc", "average_precision") + (PROB_METRICS if self.probability else ())
        n_all = counts.sum(-1)

        def exact_rows(j: int, p: int, g: int) -> tuple | None:
            """A small group's cells expanded to rows (score order by bucket), as the in-memory audit's rows."""
            if n_all[j] > cfg.exact_score_rows:
                return None
            cells, groups = members_of[p]
            idx = np.flatnonzero((groups == g) & (c.n > 0)) if cells is None else \
                cells[(groups == g) & (c.n[cells] > 0)]
            rows = np.repeat(idx, c.n[idx])
            per = (lambda v: None if v is None else (v / np.maximum(c.n, 1))[rows])
            return (bidx[rows].astype(np.float64), c.y[rows],
                    c.cal[rows] if self.probability else np.zeros(len(rows), dtype=np.int64), per(c.brier),
                    per(c.logloss), E, {"values": per(c.score)})

        return group_replicates(specs, offsets, names, B, cfg.seed, lambda j: bool(n_all[j] > 0), exact_rows,
                                group_cells, point, self.probability)
