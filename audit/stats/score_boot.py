"""Bootstrap replicates of the score metrics (ROC AUC, average precision, Brier score, log loss, ECE,
mean score, calibration in the large) that follow each group's own data.

Every reported group is resampled on its own, from a random stream keyed by the group's identity (its
attribute and group names), with the Poisson bootstrap: each row's weight in a resample is an independent
Poisson(1) count, the row-level equivalent of drawing the rows with replacement.

* **Exact path** (groups of up to ``exact_score_rows`` rows): the rows themselves are resampled and every
  statistic is computed exactly on the weighted rows. Rows are first reduced to *segments* in score
  order (runs of rows with one label; rows tied on a score that mix labels, or tie several positives, form
  their own segment), on which AUC and average precision are exact: ``U`` needs only the negative weight
  below each positive segment; a run of ``m`` positives with distinct scores below ``A`` rows (``F`` of them
  negative) adds ``sum_{j=1..m} (A - F + j) / (A + j) = m - F (psi(A + m + 1) - psi(A + 1))`` to the
  precision sum, so copies of a row drawn twice count as adjacent distinct scores, never as an invented tie.
* **Binned path** (larger groups): the group's cells (label x quantile bin of the group's *own* scores x
  calibration bin) are resampled (a Poisson draw per cell, each resampled row carrying its cell's mean
  score, Brier and log-loss terms). AUC and AP are computed on the bins, shifted by the exact-minus-binned
  difference of the data, and bounded to [0, 1]. With ``score_bins`` bins per group, every large group
  spans at least that many bins whatever its score range.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Sequence

import numpy as np

from .._parallel import parallel_map

#: Poisson(1) counts by inverse CDF of a 16-bit uniform (the tail beyond 1 in 65,536, weight >= 8, is cut)
_POISSON_LUT: np.ndarray | None = None


def poisson_lut() -> np.ndarray:
    global _POISSON_LUT
    if _POISSON_LUT is None:
        k = np.arange(16)
        pmf = np.exp(-1.0) / np.cumprod(np.r_[1.0, k[1:]])
        cdf = np.cumsum(pmf)
        u = (np.arange(1 << 16) + 0.5) / (1 << 16)
        _POISSON_LUT = np.searchsorted(cdf, u, side="right").astype(np.float64)
    return _POISSON_LUT


def identity_seed(seed: int, purpose: int, identity: Sequence[str]) -> np.random.SeedSequence:
    """A seed for one group, keyed by what the group *is* (names), not by its position: renaming or
    reordering other groups, or the categories of a categorical column, leaves its draws unchanged."""
    digest = hashlib.sha256("\x1f".join(identity).encode("utf-8", "surrogatepass")).digest()
    words = np.frombuffer(digest[:16], dtype=np.uint32).tolist()
    return np.random.SeedSequence([int(seed), int(purpose), *words])


def poisson_weights(rng: np.random.Generator, n_boot: int, n: int) -> np.ndarray:
    """``(n_boot, n)`` float Poisson(1) row weights."""
    return poisson_lut()[rng.integers(0, 1 << 16, size=(n_boot, n), dtype=np.uint16)]


def _nan_where(ok: np.ndarray, value: np.ndarray) -> np.ndarray:
    return np.where(ok, value, np.nan)


def _harmonic(upto: int) -> np.ndarray:
    """``H[k] = 1 + 1/2 + ... + 1/k`` for k = 0..upto (``H[0] = 0``)."""
    out = np.zeros(upto + 1)
    np.cumsum(1.0 / np.arange(1, upto + 1), out=out[1:])
    return out


def exact_replicates(rng: np.random.Generator, n_boot: int, scores: np.ndarray, y: np.ndarray, cal: np.ndarray,
                     brier: np.ndarray | None, logloss: np.ndarray | None, n_cal: int,
                     values: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Replicates ``(n_boot,)`` of every score metric of one group, from its rows in ascending score order
    (``cal``: calibration bin per row; ``brier``/``logloss``: per-row terms, None for non-probability scores;
    ``values``: the scores summed for mean score and calibration when ``scores`` is only an ordering key, such
    as an engine's score bucket).
    """
    n = len(scores)
    order = np.lexsort((y, scores))  # ties: negatives first, so a mixed tie splits into two segments
    sc, yy, cb = scores[order], y[order].astype(bool), cal[order]
    level_new = np.empty(n, dtype=bool)
    level_new[0] = True
    np.not_equal(sc[1:], sc[:-1], out=level_new[1:])
    level = np.cumsum(level_new) - 1
    lev_n = np.bincount(level)
    lev_pos = np.bincount(level, weights=yy)
    special = (lev_pos > 0) & ((lev_pos < lev_n) | (lev_n > 1))  # mixed, or several tied positives
    seg_new = np.empty(n, dtype=bool)
    seg_new[0] = True
    seg_new[1:] = (yy[1:] != yy[:-1]) | (cb[1:] != cb[:-1]) | (level_new[1:] & (special[level[1:]] | special[level[:-1]]))
    starts = np.flatnonzero(seg_new)
    s_pos = yy[starts]
    s_level = level[starts]
    pos_idx = np.flatnonzero(s_pos)
    neg_idx = np.flatnonzero(~s_pos)
    tied = special[s_level[pos_idx]]  # per positive segment: its rows share one threshold
    # per positive segment: negative segments before it (its tied partner, if any, is the one just before)
    n_before = np.searchsorted(neg_idx, pos_idx)
    mixed = np.flatnonzero((pos_idx > 0) & (s_level[np.maximum(pos_idx - 1, 0)] == s_level[pos_idx]))

    W = poisson_weights(rng, n_boot, n)
    Ws = np.add.reduceat(W, starts, axis=1)  # (B, S) resampled rows per segment
    Wp = Ws[:, pos_idx]
    cum_neg = np.zeros((n_boot, len(neg_idx) + 1))
    np.cumsum(Ws[:, neg_idx], axis=1, out=cum_neg[:, 1:])
    N = cum_neg[:, -1]
    neg_le = cum_neg[:, n_before]  # negatives below or tied with each positive segment
    tied_neg = np.zeros_like(Wp)
    tied_neg[:, mixed] = Ws[:, pos_idx[mixed] - 1]
    cum_pos = np.cumsum(Wp, axis=1)
    P = cum_pos[:, -1] if len(pos_idx) else np.zeros(n_boot)
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        u = (Wp * (neg_le - 0.5 * tied_neg)).sum(1)
        above_pos = P[:, None] - cum_pos  # positives strictly above each positive segment
        above_neg = N[:, None] - neg_le  # negatives strictly above
        contrib = np.zeros(n_boot)
        if (~tied).any():  # runs of distinct scores: sum_j (T + j) / (A + j) = m - F (H(A + m) - H(A))
            m, f = Wp[:, ~tied], above_neg[:, ~tied]
            a0 = (above_pos[:, ~tied] + f).astype(np.int64)
            h = _harmonic(int(n_boot and (P.max() + N.max())) + 1)
            contrib += (m - f * (h[a0 + m.astype(np.int64)] - h[a0])).sum(1)
        if tied.any():  # one threshold for the whole segment (and the negatives tied with it)
            m, t0 = Wp[:, tied], above_pos[:, tied]
            den = t0 + above_neg[:, tied] + m + tied_neg[:, tied]
            contrib += np.where(m > 0, m * (t0 + m) / np.where(den > 0, den, 1.0), 0.0).sum(1)
        out["roc_auc"] = _nan_where((P > 0) & (N > 0), u / (P * N))
        out["average_precision"] = _nan_where(P > 0, contrib / P)
        if brier is not None:
            # float sums in a fixed order (numpy's own reductions, never BLAS): a BLAS product's order depends on
            # its thread count, which an audit started from another thread cannot always set (OpenBLAS)
            brier_sum = np.einsum("bn,n->b", W, brier[order])
            ll_sum = np.einsum("bn,n->b", W, logloss[order])
            sv = sc if values is None else np.asarray(values, dtype=float)[order]
            score_by_cal = _sums_by_bin(W, sv, cb, n_cal)
            onehot = np.zeros((len(pos_idx), n_cal))
            onehot[np.arange(len(pos_idx)), cb[starts[pos_idx]]] = 1.0
            pos_by_cal = Wp @ onehot  # counts (exact in any order); segments never span two calibration bins
            tot = P + N
            tot_score = score_by_cal.sum(1)
            ok = tot > 0
            out["brier"] = _nan_where(ok, brier_sum / tot)
            out["log_loss"] = _nan_where(ok, ll_sum / tot)
            out["mean_score"] = _nan_where(ok, tot_score / tot)
            out["calibration_in_the_large"] = _nan_where(ok, (tot_score - P) / tot)
            out["ece"] = _nan_where(ok, np.abs(score_by_cal - pos_by_cal).sum(1) / tot)
    return out


def _sums_by_bin(W: np.ndarray, v: np.ndarray, bins: np.ndarray, n_bins: int) -> np.ndarray:
    """``(B, n_bins)``: ``sum_i W[:, i] v[i]`` over the rows ``i`` of each bin, by numpy's einsum in a fixed order
    (rows in score order hold each probability bin in one run; other layouts are gathered first)."""
    out = np.zeros((W.shape[0], n_bins))
    edges = np.flatnonzero(bins[1:] != bins[:-1]) + 1
    starts, ends = np.r_[0, edges], np.r_[edges, len(bins)]
    if len(np.unique(bins[starts])) == len(starts):  # each bin one run of rows: sum the slices
        for a, b in zip(starts, ends):
            out[:, bins[a]] = np.einsum("bn,n->b", W[:, a:b], v[a:b])
        return out
    by_bin = np.argsort(bins, kind="stable")
    return _sums_by_bin(W[:, by_bin], v[by_bin], bins[by_bin], n_bins)


def binned_replicates(rng: np.random.Generator, n_boot: int, count: np.ndarray, sum_score: np.ndarray,
                      sum_brier: np.ndarray | None, sum_ll: np.ndarray | None, exact_auc: float, exact_ap: float,
                      probability: bool) -> dict[str, np.ndarray]:
    """Replicates ``(n_boot,)`` of every score metric of one group from its cells ``(2, K, E)`` (label x
    quantile bin of the group's scores x calibration bin; bins in score order)."""
    from .scores import cell_metrics

    n_cal = count.shape[2]
    occupied = count.sum(0).reshape(-1) > 0  # (K * E,) bins in score order
    bins = np.flatnonzero(occupied)
    ece_bin = bins % n_cal
    c = count.reshape(2, -1)[:, bins]
    flat = c.reshape(-1)
    live = np.flatnonzero(flat)
    draws = np.zeros((n_boot, flat.size))
    draws[:, live] = rng.poisson(flat[live], size=(n_boot, len(live)))
    draws = draws.reshape(n_boot, 2, len(bins))
    safe = np.where(c > 0, c, 1.0)

    def per_row(total: np.ndarray) -> np.ndarray:
        return total.reshape(2, -1)[:, bins] / safe

    mean_score = per_row(sum_score)
    # fixed-order float sums (no BLAS, whose order depends on its thread count): each bin's scores into its
    # calibration bin
    per_bin = np.einsum("blk,lk->bk", draws, mean_score)
    by_cal = np.argsort(ece_bin, kind="stable")
    present, first = np.unique(ece_bin[by_cal], return_index=True)
    score_by_cal = np.zeros((n_boot, n_cal))
    if len(bins):
        score_by_cal[:, present] = np.add.reduceat(per_bin[:, by_cal], first, axis=1)
    if probability:
        brier = np.einsum("blk,lk->b", draws, per_row(sum_brier))
        ll = np.einsum("blk,lk->b", draws, per_row(sum_ll))
    else:
        brier = ll = np.zeros(n_boot)
    out = cell_metrics(draws[:, 0], draws[:, 1], score_by_cal, brier, ll, ece_bin, n_cal, probability)
    point_by_cal = np.zeros((1, n_cal))
    if len(bins):
        point_by_cal[:, present] = np.add.reduceat(sum_score.reshape(2, -1)[:, bins].sum(0)[by_cal], first)
    point = cell_metrics(c[0][None], c[1][None], point_by_cal, np.zeros(1), np.zeros(1), ece_bin, n_cal, False)
    for key, exact in (("roc_auc", exact_auc), ("average_precision", exact_ap)):
        # replicates are of the binned statistic: centre them on the exact value, within the metric's range
        shifted = out[key] + (exact - point[key][0])
        out[key] = np.clip(shifted, 0.0, 1.0)
    return out


def group_replicates(specs: list, offsets: np.ndarray, names: Sequence[str], n_boot: int, seed: int,
                     present: Callable[[int], bool], exact_rows: Callable[[int, int, int], tuple | None],
                     group_cells: list[dict[str, np.ndarray]], point: dict[str, np.ndarray], probability: bool,
                     work: Callable[[int], float] | None = None) -> dict[str, np.ndarray]:
    """Replicates ``(n_boot, S)`` of the score metrics ``names`` of every reported group (in memory and on an
    engine's cells alike): each group on its own stream keyed by its identity (``spec.identity(group)``, purpose
    2), resampled row by row
    when ``exact_rows(j, p, g)`` gives its rows (the positional arguments of :func:`exact_replicates` after the
    generator and ``n_boot``, and optionally a dict of keywords), else on its own cells (``group_cells[p]``, with
    AUC and AP centred on ``point``). ``present(j)``: the group has rows; ``work(j)``: its cost, largest first, so
    the two threads finish together. Groups without rows keep NaN."""
    out = {k: np.full((n_boot, int(offsets[-1])), np.nan) for k in names}
    jobs = [(int(offsets[p] + g), p, g, identity_seed(seed, 2, spec.identity(group)))
            for p, spec in enumerate(specs) for g, group in enumerate(spec.groups) if present(int(offsets[p] + g))]

    def job(item: tuple) -> tuple[int, dict[str, np.ndarray]]:
        j, p, g, seq = item
        rng = np.random.default_rng(seq)
        rows = exact_rows(j, p, g)
        if rows is not None:
            args, kwargs = (rows, {}) if not isinstance(rows[-1], dict) else (rows[:-1], rows[-1])
            return j, exact_replicates(rng, n_boot, *args, **kwargs)
        cg = {k: v[g] for k, v in group_cells[p].items()}
        return j, binned_replicates(rng, n_boot, cg["count"], cg["score"], cg.get("brier"), cg.get("logloss"),
                                    float(point["roc_auc"][j]), float(point["average_precision"][j]), probability)

    if work is not None:
        jobs.sort(key=lambda it: -work(it[0]))
    for j, reps in parallel_map(job, jobs):
        for k, v in reps.items():
            if k in out:
                out[k][:, j] = v
    return out
