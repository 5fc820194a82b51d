"""Score-based metrics: exact per-group ROC AUC and average precision from rows, and a cell table
(group x label x score bin) from which Brier score, log loss, ECE and calibration are exact and from
which bootstrap replicates of every score metric are computed cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCORE_METRICS = ("roc_auc", "average_precision", "brier", "log_loss", "ece", "mean_score", "calibration_in_the_large")
PROBABILITY_ONLY = frozenset({"brier", "log_loss", "ece", "mean_score", "calibration_in_the_large"})

UNDEFINED_REASON = {
    "roc_auc": "the group needs both actual positives and actual negatives",
    "average_precision": "the group has no actual positives",
    "brier": "the group has no rows",
    "log_loss": "the group has no rows",
    "ece": "the group has no rows",
    "mean_score": "the group has no rows",
    "calibration_in_the_large": "the group has no rows",
}

_EPS = float(np.finfo(np.float64).eps)  # scikit-learn's log_loss clipping


def _small_codes(codes: np.ndarray, n_groups: int) -> np.ndarray:
    """The narrowest integer dtype, so that numpy's stable sort is a linear-time radix sort."""
    if n_groups <= 255:
        return codes.astype(np.uint8, copy=False)
    if n_groups <= 65535:
        return codes.astype(np.uint16, copy=False)
    return codes


def score_order(scores: np.ndarray) -> np.ndarray:
    """Indices that sort ``scores`` ascending (ties in row order), several times faster than argsort.

    The float bits are mapped to unsigned integers that sort like the floats; the top bits are packed
    with the row index into one uint64 and sorted by value (no indirect argsort). Rows whose top bits
    collide but whose scores differ are then put in exact order with a small lexsort.
    """
    n = len(scores)
    shift = max(int(n - 1).bit_length(), 1)
    if n < 2 or shift > 40:
        return np.argsort(scores, kind="stable")
    bits = np.ascontiguousarray(scores, dtype=np.float64).view(np.uint64)
    if scores.min() >= 0:  # non-negative floats (probabilities) already sort like their bits; -0.0 becomes 0
        mono = np.where(bits == np.uint64(1 << 63), np.uint64(0), bits)
    else:  # order-preserving map of any finite floats to uint64
        sign = np.uint64(1 << 63)
        mono = np.where(bits >= sign, ~bits, bits | sign)
    low = np.uint64((1 << shift) - 1)
    key = (mono & ~low) | np.arange(n, dtype=np.uint64)
    key.sort()
    order = (key & low).astype(np.int64)
    hi = key >> np.uint64(shift)
    same_hi = hi[1:] == hi[:-1]
    if same_hi.any():
        s = scores[order]
        clash = same_hi & (s[1:] != s[:-1])
        if clash.any():  # re-sort exactly every run of equal top bits that holds different scores
            run = np.r_[0, np.cumsum(~same_hi)]
            bad = np.zeros(int(run[-1]) + 1, dtype=bool)
            bad[run[1:][clash]] = True
            rows = np.flatnonzero(bad[run])
            sub = np.lexsort((order[rows], s[rows], run[rows]))
            order[rows] = order[rows][sub]
    return order


def tie_ids(scores_sorted: np.ndarray) -> np.ndarray | None:
    """Id of each row's tie run in ascending score order, or None when all scores differ."""
    if len(scores_sorted) < 2:
        return None
    change = scores_sorted[1:] != scores_sorted[:-1]
    if change.all():
        return None
    ids = np.empty(len(scores_sorted), dtype=np.int32)
    ids[0] = 0
    np.cumsum(change, dtype=np.int32, out=ids[1:])
    return ids


def exact_rank_metrics(codes_sorted: np.ndarray, n_groups: int, y_sorted: np.ndarray, ties: np.ndarray | None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Exact ROC AUC (ties count one half) and average precision (scikit-learn's step definition) per group.

    Inputs are in ascending score order (sorted once per audit), ``ties`` from :func:`tie_ids`. A stable
    radix sort on the small integer group codes orders rows by (group, score) in linear time; the rest
    is computed at the positive rows only.
    """
    codes_sorted = _small_codes(codes_sorted, n_groups)
    if n_groups > 1:
        perm = np.argsort(codes_sorted, kind="stable")
        g = codes_sorted[perm]
        yy = y_sorted[perm]
        t = ties[perm] if ties is not None else None
    else:
        g, yy, t = codes_sorted, y_sorted, ties
    n = len(g)
    auc = np.full(n_groups, np.nan)
    ap = np.full(n_groups, np.nan)
    if n == 0:
        return auc, ap
    n_g = np.bincount(g, minlength=n_groups).astype(np.int64)
    group_start = np.r_[0, np.cumsum(n_g)[:-1]]
    p_rows = np.flatnonzero(yy)
    pg = g[p_rows].astype(np.int64)
    pos_g = np.bincount(pg, minlength=n_groups).astype(np.int64)
    neg_g = n_g - pos_g
    pos_start = np.r_[0, np.cumsum(pos_g)[:-1]]  # positives before each group
    gs = group_start[pg]
    if t is None:  # no ties: each positive is its own threshold
        below = p_rows - gs
        pos_below = np.arange(len(p_rows)) - pos_start[pg]
        run_neg = 0.0
        run_pos = None
    else:
        new_run = np.empty(n, dtype=bool)
        new_run[0] = True
        np.not_equal(t[1:], t[:-1], out=new_run[1:])
        if n_groups > 1:
            new_run[1:] |= g[1:] != g[:-1]
        run_of = np.cumsum(new_run, dtype=np.int32) - 1
        starts = np.flatnonzero(new_run)
        ends = np.r_[starts[1:], n]
        pr = run_of[p_rows]
        rs, re = starts[pr], ends[pr]
        # positives strictly before a row = its rank among positives; per run via the first positive's rank
        rank = np.arange(len(p_rows))
        first_pos = np.r_[True, pr[1:] != pr[:-1]]
        run_first_rank = np.maximum.accumulate(np.where(first_pos, rank, 0))
        run_pos = np.bincount(pr, minlength=len(starts))[pr]
        below = rs - gs
        pos_below = run_first_rank - pos_start[pg]
        run_neg = (re - rs) - run_pos
    neg_below = below - pos_below
    u = np.bincount(pg, weights=neg_below + 0.5 * run_neg, minlength=n_groups)
    ok = (pos_g > 0) & (neg_g > 0)
    auc[ok] = u[ok] / (pos_g[ok] * neg_g[ok])
    # average precision: each positive adds precision at its own score threshold (score >= s) / P
    prec = (pos_g[pg] - pos_below) / (n_g[pg] - below)
    ap_sum = np.bincount(pg, weights=prec, minlength=n_groups)
    okp = pos_g > 0
    ap[okp] = ap_sum[okp] / pos_g[okp]
    return auc, ap


@dataclass(frozen=True)
class ScoreCells:
    """Per finest group, label and score bin: row counts and exact sums.

    Arrays have shape ``(F, 2, K)`` (finest group, label, bin); ``ece_bin`` maps each of the K score
    bins to its equal-width calibration bin (the score bins refine the calibration bins).
    """

    count: np.ndarray
    sum_score: np.ndarray
    sum_brier: np.ndarray
    sum_logloss: np.ndarray
    ece_bin: np.ndarray
    n_ece_bins: int
    probability: bool


def build_cells(finest: np.ndarray, n_finest: int, y: np.ndarray, scores: np.ndarray, probability: bool,
                n_bins: int, calibration_bins: int) -> ScoreCells:
    """Cells from rows given in ascending score order (so bins are contiguous runs of rows)."""
    n = len(scores)
    cal_edges = np.linspace(0.0, 1.0, calibration_bins + 1)[1:-1]
    edges = scores[np.linspace(0, n - 1, n_bins + 1)[1:-1].round().astype(np.int64)] if n else np.empty(0)
    if probability:
        edges = np.concatenate([edges, cal_edges])
    edges = np.unique(edges)
    k = len(edges) + 1
    # bin j holds scores in (edges[j-1], edges[j]]: row boundaries by binary search on the sorted scores
    bounds = np.r_[0, np.searchsorted(scores, edges, side="right"), n]
    b = np.repeat(np.arange(k, dtype=np.int32), np.diff(bounds))
    key = (finest.astype(np.int32) * 2 + y) * np.int32(k) + b
    size = n_finest * 2 * k
    count = np.bincount(key, minlength=size).astype(float)
    sum_score = np.bincount(key, weights=scores, minlength=size)
    if probability:
        pos = y.astype(bool)
        brier = scores - pos
        np.square(brier, out=brier)
        p = np.clip(scores, _EPS, 1 - _EPS)
        ll = np.empty(n)
        ll[pos] = -np.log(p[pos])
        ll[~pos] = -np.log1p(-p[~pos])
        sum_brier = np.bincount(key, weights=brier, minlength=size)
        sum_ll = np.bincount(key, weights=ll, minlength=size)
        # bin j covers (edges[j-1], edges[j]]: its calibration bin is that of its upper edge
        # (the last bin's upper edge is +inf: the last calibration bin)
        ece_bin = np.searchsorted(cal_edges, np.r_[edges, np.inf], side="left")
    else:
        sum_brier = sum_ll = np.zeros(size)
        ece_bin = np.zeros(k, dtype=np.int64)
    shape = (n_finest, 2, k)
    return ScoreCells(count.reshape(shape), sum_score.reshape(shape), sum_brier.reshape(shape),
                      sum_ll.reshape(shape), ece_bin.astype(np.int64), calibration_bins, probability)


def reduce_cells(count: np.ndarray, sum_score: np.ndarray, sum_brier: np.ndarray, sum_ll: np.ndarray,
                 ece_bin: np.ndarray, n_ece: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Collapse cell sums (..., 2, K) to what the metrics need, which is additive across groups:
    ``(count (..., 2, K), score per calibration bin (..., E), Brier total (...), log-loss total (...))``."""
    onehot = np.zeros((len(ece_bin), n_ece))
    onehot[np.arange(len(ece_bin)), ece_bin] = 1.0
    return count, sum_score.sum(-2) @ onehot, sum_brier.sum((-2, -1)), sum_ll.sum((-2, -1))


def cell_metrics(count: np.ndarray, score_by_bin: np.ndarray, brier_total: np.ndarray, ll_total: np.ndarray,
                 ece_bin: np.ndarray, n_ece: int, probability: bool) -> dict[str, np.ndarray]:
    """Score metrics from reduced cells (see :func:`reduce_cells`), any leading axes; NaN where undefined.

    Brier, log loss, ECE, mean score and calibration-in-the-large are exact when the cells are the
    data's own; ROC AUC and average precision treat scores in one bin as tied (used for bootstrap
    replicates, which are shifted by the exact-minus-binned point difference).
    """
    neg = count[..., 0, :]
    pos = count[..., 1, :]
    n_pos = pos.sum(-1)
    n_neg = neg.sum(-1)
    n = n_pos + n_neg
    with np.errstate(invalid="ignore", divide="ignore"):
        cum_neg = np.cumsum(neg, -1) - neg
        auc = (pos * (cum_neg + 0.5 * neg)).sum(-1) / (n_pos * n_neg)
        auc = np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)
        tp_at = np.cumsum(pos[..., ::-1], -1)[..., ::-1]
        fp_at = np.cumsum(neg[..., ::-1], -1)[..., ::-1]
        prec = np.where(pos > 0, tp_at / np.maximum(tp_at + fp_at, 1), 0.0)
        ap = np.where(n_pos > 0, (pos * prec).sum(-1) / n_pos, np.nan)
        out = {"roc_auc": auc, "average_precision": ap}
        if probability:
            tot_score = score_by_bin.sum(-1)
            onehot = np.zeros((len(ece_bin), n_ece))
            onehot[np.arange(len(ece_bin)), ece_bin] = 1.0
            p_bin = pos @ onehot
            out["brier"] = np.where(n > 0, brier_total / n, np.nan)
            out["log_loss"] = np.where(n > 0, ll_total / n, np.nan)
            out["mean_score"] = np.where(n > 0, tot_score / n, np.nan)
            out["calibration_in_the_large"] = np.where(n > 0, (tot_score - n_pos) / n, np.nan)
            out["ece"] = np.where(n > 0, np.abs(score_by_bin - p_bin).sum(-1) / n, np.nan)
    return out
