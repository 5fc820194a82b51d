"""Score-based metrics: one sort of the scores, then streamed passes that give every group's exact ROC AUC
and average precision and its cells (label x quantile bin of the group's own scores x calibration bin), from
which Brier score, log loss, ECE and calibration are exact and large groups' replicates are cheap
(``stats.score_boot``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import metrics as _catalogue


SCORE_METRICS = _catalogue.SCORE_METRICS
PROBABILITY_ONLY = _catalogue.PROBABILITY_ONLY
UNDEFINED_REASON = _catalogue.undefined_reasons("score")

_EPS = float(np.finfo(np.float64).eps)  # scikit-learn's log_loss clipping


#: rows per chunk of the streaming passes: temporaries stay in cache and are reused by the allocator
#: instead of being faulted in fresh (large fresh arrays dominate the cost at 10 million rows)
CHUNK_ROWS = 1 << 18


def code_dtype(n_groups: int) -> type:
    """The narrowest unsigned dtype for codes ``0..n_groups-1`` (numpy's stable sort of it is a radix sort)."""
    return np.uint8 if n_groups <= 256 else np.uint16 if n_groups <= 65536 else np.int64


def small_codes(codes: np.ndarray, n_groups: int) -> np.ndarray:
    return codes.astype(code_dtype(n_groups), copy=False)


def row_chunks(n: int, size: int | None = None) -> list[slice]:
    size = size or CHUNK_ROWS
    return [slice(a, min(a + size, n)) for a in range(0, n, size)] or [slice(0, 0)]


def sort_scores(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, scores[order])``: ascending scores, ties in row order, several times faster than argsort.

    The float bits are mapped to unsigned integers that sort like the floats; the top bits are packed
    with the row index into one uint64 and sorted by value (no indirect argsort). Rows whose top bits
    collide but whose scores differ are then put in exact order with a small lexsort. The key is built
    in chunks and the order is unpacked in place, so the only full-size arrays are the key (which
    becomes the order) and the sorted scores.
    """
    n = len(scores)
    shift = max(int(n - 1).bit_length(), 1)
    if n < 2 or shift > 40:
        order = np.argsort(scores, kind="stable")
        return order, scores[order]
    bits = np.ascontiguousarray(scores, dtype=np.float64).view(np.uint64)
    nonneg = bool(scores.min() >= 0)
    sign = np.uint64(1 << 63)
    low = np.uint64((1 << shift) - 1)
    key = np.empty(n, dtype=np.uint64)
    for s in row_chunks(n):
        m = bits[s]
        m = np.where(m == sign, np.uint64(0), m)  # -0.0 ties with 0.0
        if not nonneg:  # order-preserving map of any finite floats to uint64 (non-negative ones already are)
            m = np.where(m >= sign, ~m, m | sign)
        m &= ~low
        m |= np.arange(s.start, s.stop, dtype=np.uint64)
        key[s] = m
    key.sort()
    same_hi = np.empty(n - 1, dtype=bool)
    sh = np.uint64(shift)
    for s in row_chunks(n - 1):
        np.equal(key[s.start + 1:s.stop + 1] >> sh, key[s] >> sh, out=same_hi[s])
    np.bitwise_and(key, low, out=key)
    order = key.view(np.int64)
    ordered = scores[order]
    # rows sharing their top bits are in row order; only neighbours whose scores differ need an exact re-sort
    # (tied scores share every bit: with few distinct scores nearly all neighbours share their top bits, and
    # none of them clash)
    clash_any = False
    for s in row_chunks(n - 1):
        if np.any(same_hi[s] & (ordered[s.start + 1:s.stop + 1] != ordered[s])):
            clash_any = True
            break
    pairs = np.flatnonzero(same_hi) if clash_any else np.empty(0, np.int64)  # i: rows i, i + 1 share top bits
    if len(pairs):
        # runs of equal top bits are maximal sequences of consecutive pairs; re-sort exactly, by score
        # then row, every run that holds different scores
        starts = np.r_[True, pairs[1:] != pairs[:-1] + 1]
        run_of_pair = np.cumsum(starts) - 1
        clash = ordered[pairs] != ordered[pairs + 1]
        bad_runs = np.unique(run_of_pair[clash])
        if len(bad_runs):
            first = pairs[starts][bad_runs]  # first row of each bad run
            last_pair = np.r_[np.flatnonzero(starts)[1:] - 1, len(pairs) - 1][bad_runs]
            ends = pairs[last_pair] + 2  # one past the last row of each bad run
            lengths = ends - first
            rows = np.repeat(first - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(lengths.sum())
            run_id = np.repeat(np.arange(len(first)), lengths)
            sub = np.lexsort((order[rows], ordered[rows], run_id))
            order[rows] = order[rows][sub]
            ordered[rows] = ordered[rows][sub]
    return order, ordered


def tie_aligned_chunks(scores_sorted: np.ndarray, size: int | None = None) -> list[slice]:
    """Chunks of the score-sorted rows that never split a run of equal scores.

    Each tie run lies in one chunk, so per-chunk sums add the same values in the same order whatever
    the input row order (results stay exactly row-order invariant) and rank statistics see whole runs.
    """
    n = len(scores_sorted)
    size = size or CHUNK_ROWS
    bounds = [0]
    while bounds[-1] < n:
        b = bounds[-1] + size
        if b < n and scores_sorted[b] == scores_sorted[b - 1]:
            b = int(np.searchsorted(scores_sorted, scores_sorted[b], side="right"))
        bounds.append(min(b, n))
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])] or [slice(0, 0)]


class RankAccumulator:
    """Exact ROC AUC (ties count one half) and average precision (scikit-learn's step definition) for
    the groups of one partition, from rows streamed in ascending score order, chunk by chunk.

    ``n_total`` and ``pos_total`` are the groups' row and positive counts (average precision needs the
    counts at or above each threshold). Within a chunk, a stable radix sort on the small group codes
    orders the rows by (group, score); counts from earlier chunks are carried per group. Only the
    positive rows are visited after that.
    """

    def __init__(self, n_total: np.ndarray, pos_total: np.ndarray, bins: int = 0, n_cal: int = 1,
                 probability: bool = False, want_rows: np.ndarray | None = None):
        self.n_total = np.asarray(n_total, dtype=np.int64)
        self.pos_total = np.asarray(pos_total, dtype=np.int64)
        self.n_groups = len(self.n_total)
        self.carry_rows = np.zeros(self.n_groups, dtype=np.int64)
        self.carry_pos = np.zeros(self.n_groups, dtype=np.int64)
        self.u = np.zeros(self.n_groups)
        self.ap = np.zeros(self.n_groups)
        # per-group cells (label x quantile bin of the group's own scores x calibration bin), when bins > 0
        self.bins, self.n_cal, self.probability = bins, n_cal, probability
        size = self.n_groups * 2 * max(bins, 1) * n_cal
        self.cells = {k: np.zeros(size) for k in (("count", "score", "brier", "logloss") if bins else ())}
        # rows (score-order positions) of the groups flagged in ``want_rows``, collected chunk by chunk
        self.want_rows = want_rows
        self.rows: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, codes: np.ndarray, y: np.ndarray, tie_run: np.ndarray | None, start: int = 0,
            terms: "ChunkTerms | None" = None) -> None:
        """One chunk: group codes (small unsigned ints), 0/1 labels and tie-run ids (None: no ties);
        ``start`` (position of the chunk's first row) and ``terms`` (per-row score terms) for the cells."""
        if self.want_rows is not None:
            keep = np.flatnonzero(self.want_rows[codes])
            if len(keep):
                self.rows.append((keep + start, codes[keep]))
        G = self.n_groups
        if G > 1:
            perm = np.argsort(codes, kind="stable")
            g = codes[perm]
            yy = y[perm]
            t = tie_run[perm] if tie_run is not None else None
        else:
            g, yy, t = codes, y, tie_run
        m = len(g)
        if m == 0:
            return
        n_g = np.bincount(g, minlength=G)
        group_start = np.cumsum(n_g) - n_g
        p_rows = np.flatnonzero(yy)
        pg = g[p_rows].astype(np.intp)
        pos_g = np.bincount(pg, minlength=G)
        pos_start = np.cumsum(pos_g) - pos_g
        gs = group_start[pg]
        run_start = None
        if t is None:  # no ties: each positive is its own threshold
            below = p_rows - gs
            pos_below = np.arange(len(p_rows)) - pos_start[pg]
            run_neg = 0.0
        else:
            new_run = np.empty(m, dtype=bool)
            new_run[0] = True
            np.not_equal(t[1:], t[:-1], out=new_run[1:])
            if G > 1:
                new_run[1:] |= g[1:] != g[:-1]
            run_of = np.cumsum(new_run, dtype=np.int32) - 1
            starts = np.flatnonzero(new_run)
            ends = np.r_[starts[1:], m]
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
            if self.bins:
                run_start = starts[run_of]
        if self.bins:
            self._add_cells(codes, y, g, perm if G > 1 else None, group_start, run_start, terms)
        below = below + self.carry_rows[pg]
        pos_below = pos_below + self.carry_pos[pg]
        self.u += np.bincount(pg, weights=(below - pos_below) + 0.5 * run_neg, minlength=G)
        # average precision: each positive adds precision at its own score threshold (score >= s) / P
        prec = (self.pos_total[pg] - pos_below) / (self.n_total[pg] - below)
        self.ap += np.bincount(pg, weights=prec, minlength=G)
        self.carry_rows += n_g
        self.carry_pos += pos_g

    def _add_cells(self, codes: np.ndarray, y: np.ndarray, g: np.ndarray, perm: np.ndarray | None,
                   group_start: np.ndarray, run_start: np.ndarray | None, terms: "ChunkTerms") -> None:
        """Cells of this chunk: a row's quantile bin is its tie run's rank within its group (rows of the group
        strictly below the run) times ``bins`` over the group's size, so ties share a bin."""
        m = len(g)
        below_sorted = (np.arange(m) if run_start is None else run_start) - group_start[g] + self.carry_rows[g]
        if perm is not None:
            below = np.empty(m, dtype=np.int64)
            below[perm] = below_sorted
        else:
            below = below_sorted
        k, e = self.bins, self.n_cal
        gi = codes.astype(np.int64)
        rbin = below * k // np.maximum(self.n_total[gi], 1)
        key = ((gi * 2 + y) * k + rbin) * e + terms.cal
        size = len(self.cells["count"])
        self.cells["count"] += np.bincount(key, minlength=size)
        self.cells["score"] += np.bincount(key, weights=terms.score, minlength=size)
        if self.probability:
            self.cells["brier"] += np.bincount(key, weights=terms.brier, minlength=size)
            self.cells["logloss"] += np.bincount(key, weights=terms.logloss, minlength=size)

    def group_cells(self) -> dict[str, np.ndarray]:
        """Cells ``(G, 2, bins, n_cal)`` per group (label x quantile bin x calibration bin)."""
        shape = (self.n_groups, 2, self.bins, self.n_cal)
        return {k: v.reshape(shape) for k, v in self.cells.items()}

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        pos = self.pos_total
        neg = self.n_total - pos
        auc = np.full(self.n_groups, np.nan)
        ap = np.full(self.n_groups, np.nan)
        ok = (pos > 0) & (neg > 0)
        auc[ok] = self.u[ok] / (pos[ok] * neg[ok])
        okp = pos > 0
        ap[okp] = self.ap[okp] / pos[okp]
        return auc, ap


@dataclass(frozen=True)
class ChunkTerms:
    """Per-row terms of a chunk of score-sorted rows: calibration bin, score, Brier and log-loss terms."""

    cal: np.ndarray
    score: np.ndarray
    brier: np.ndarray | None
    logloss: np.ndarray | None


def calibration_bin(scores: np.ndarray, n_cal: int) -> np.ndarray:
    """Equal-width calibration bin of each probability: bin ``j`` holds ``j < s * n_cal <= j + 1`` (0 in bin 0).

    Written as ``ceil(s * n_cal) - 1`` so that a SQL engine computes the same bin bit for bit (the product is
    one correctly rounded IEEE multiplication everywhere), which the pushed-down scan relies on."""
    cal = np.ceil(scores * n_cal).astype(np.int64)
    cal -= 1
    np.clip(cal, 0, n_cal - 1, out=cal)
    return cal


def chunk_terms(scores: np.ndarray, y: np.ndarray, n_cal: int, probability: bool) -> ChunkTerms:
    if not probability:
        return ChunkTerms(np.zeros(len(scores), dtype=np.int64), scores, None, None)
    cal = calibration_bin(scores, n_cal)
    pos = y.astype(bool)
    brier = scores - pos
    np.square(brier, out=brier)
    p = np.clip(scores, _EPS, 1 - _EPS)
    ll = np.empty(len(scores))
    ll[pos] = -np.log(p[pos])
    ll[~pos] = -np.log1p(-p[~pos])
    return ChunkTerms(cal, scores, brier, ll)


def chunk_tie_runs(scores_chunk: np.ndarray) -> np.ndarray | None:
    """Id of each row's run of equal scores within a sorted chunk, or None when all scores differ."""
    if len(scores_chunk) < 2:
        return None
    change = scores_chunk[1:] != scores_chunk[:-1]
    if change.all():
        return None
    ids = np.empty(len(scores_chunk), dtype=np.int32)
    ids[0] = 0
    np.cumsum(change, dtype=np.int32, out=ids[1:])
    return ids


def exact_rank_metrics(codes_sorted: np.ndarray, n_groups: int, y_sorted: np.ndarray, scores_sorted: np.ndarray,
                       chunk_rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-group ROC AUC and average precision of rows given in ascending score order."""
    codes_sorted = small_codes(codes_sorted, n_groups)
    n_g = np.bincount(codes_sorted, minlength=n_groups)
    pos_g = np.bincount(codes_sorted, weights=y_sorted, minlength=n_groups).round().astype(np.int64)
    acc = RankAccumulator(n_g, pos_g)
    for s in tie_aligned_chunks(scores_sorted, chunk_rows):
        acc.add(codes_sorted[s], y_sorted[s], chunk_tie_runs(scores_sorted[s]))
    return acc.result()


def _onehot(ece_bin: np.ndarray, n_ece: int) -> np.ndarray:
    onehot = np.zeros((len(ece_bin), n_ece))
    onehot[np.arange(len(ece_bin)), ece_bin] = 1.0
    return onehot


def _triangles(k: int) -> tuple[np.ndarray, np.ndarray]:
    """``below`` with ``x @ below`` = count strictly below each bin plus half the bin (Mann-Whitney with
    ties), and ``at_or_above`` with ``x @ at_or_above`` = count in this bin and all above."""
    idx = np.arange(k)
    below = (idx[:, None] < idx[None, :]).astype(float) + 0.5 * np.eye(k)
    at_or_above = (idx[:, None] >= idx[None, :]).astype(float)
    return below, at_or_above


def cell_metrics(neg: np.ndarray, pos: np.ndarray, score_by_bin: np.ndarray, brier_total: np.ndarray,
                 ll_total: np.ndarray, ece_bin: np.ndarray, n_ece: int, probability: bool) -> dict[str, np.ndarray]:
    """Score metrics from reduced cells, any leading axes ``L``; NaN where undefined.

    ``neg`` and ``pos`` ``(*L, K)``: rows per score bin with label 0 and 1; ``score_by_bin`` ``(*L, E)``:
    score sums per calibration bin; ``brier_total``, ``ll_total`` ``(*L)``. Brier, log loss, ECE, mean
    score and calibration-in-the-large are exact when the cells are the data's own; ROC AUC and average
    precision treat scores in one bin as tied (used for bootstrap replicates, which are shifted by the
    exact-minus-binned point difference). The running sums over bins are matrix products on a 2-D
    layout, so 1,000 replicates of every group cost one BLAS call each.
    """
    lead = neg.shape[:-1]
    k = neg.shape[-1]
    neg = np.ascontiguousarray(neg, dtype=float).reshape(-1, k)
    pos = np.ascontiguousarray(pos, dtype=float).reshape(-1, k)
    n_pos = pos.sum(-1)
    n_neg = neg.sum(-1)
    below, at_or_above = _triangles(k)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = np.einsum("ij,ij->i", pos, neg @ below) / (n_pos * n_neg)
        auc = np.where((n_pos > 0) & (n_neg > 0), auc, np.nan).reshape(lead)
        tp_at = pos @ at_or_above
        all_at = neg @ at_or_above
        all_at += tp_at
        np.maximum(all_at, 1.0, out=all_at)  # only bins holding positives count, and there all_at >= 1
        tp_at /= all_at
        ap = np.where(n_pos > 0, np.einsum("ij,ij->i", pos, tp_at) / n_pos, np.nan).reshape(lead)
        out = {"roc_auc": auc, "average_precision": ap}
        if probability:
            n = (n_pos + n_neg).reshape(lead)
            n_pos = n_pos.reshape(lead)
            tot_score = score_by_bin.sum(-1)
            p_bin = (pos @ _onehot(ece_bin, n_ece)).reshape(lead + (n_ece,))
            out["brier"] = np.where(n > 0, brier_total / n, np.nan)
            out["log_loss"] = np.where(n > 0, ll_total / n, np.nan)
            out["mean_score"] = np.where(n > 0, tot_score / n, np.nan)
            out["calibration_in_the_large"] = np.where(n > 0, (tot_score - n_pos) / n, np.nan)
            out["ece"] = np.where(n > 0, np.abs(score_by_bin - p_bin).sum(-1) / n, np.nan)
    return out
