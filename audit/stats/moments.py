"""A regression model's per-group statistic (issue 20's core): sums of the prediction, the label and the
residual's moments per finest group, from which every regression metric of every reported group follows, and
their bootstrap replicates, summed into reported groups like the confusion counts.

Columns of the table (per finest group): ``n``, the sums of the prediction, the label, the residual (prediction
minus label), its absolute value and square, the label's square, and the count of rows predicted above ``cut``
(the scoring rate of NYC Local Law 144: by default the overall median prediction).

Replicates resample each finest group's rows with its size fixed (the stratified bootstrap of the counts):
groups of up to ``exact_rows`` rows are resampled row by row (a multinomial draw of row counts, then the sums,
in numpy's fixed order); larger ones draw the sums from the normal distribution with the resampled sums' exact
mean and covariance (``n`` times the rows' covariance), where the central limit theorem holds to well within the
percentile interval's own error (checked against the row bootstrap in the tests: interval ends within 0.7-3% of
the interval's width for skewed predictions and t-distributed residuals with 6 to 10 degrees of freedom; with 3,
the squared residuals have no variance, and no bootstrap of the RMSE, row by row or normal, is consistent). Sums
that cannot be negative, and the count above the cut, are kept in their range.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .scores import sort_scores

COLUMNS = ("n", "prediction", "label", "residual", "abs_residual", "sq_residual", "sq_label", "above")
METRICS = ("mae", "rmse", "mean_prediction", "mean_label", "mean_residual", "r2", "scoring_rate")


class RegressionSums:
    """``FinestStatistic`` of a regression model: see the module's text."""

    key = "regression"

    def __init__(self, label: Any, prediction: Any, cut: float | None = None, exact_rows: int = 4000):
        self.label = np.asarray(label, dtype=np.float64)
        self.prediction = np.asarray(prediction, dtype=np.float64)
        if self.label.shape != self.prediction.shape:
            raise ValueError("label and prediction must have one value per row")
        self.cut = float(np.median(self.prediction)) if cut is None else float(cut)
        self.exact_rows = int(exact_rows)
        self._order: np.ndarray | None = None
        self._sorted: np.ndarray | None = None
        self._layout: dict[str, Any] | None = None

    def values(self, rows: Any = slice(None)) -> np.ndarray:
        """``(rows, 8)``: each row's contribution to the sums."""
        return self.values_of(self.prediction[rows], self.label[rows])

    def values_of(self, p: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = p - y
        return np.stack([np.ones_like(p), p, y, r, np.abs(r), r * r, y * y, (p > self.cut).astype(np.float64)],
                        axis=1)

    def canonical_order(self) -> np.ndarray:
        """The rows by prediction, then label (rows equal in both are interchangeable): every sum is taken in this
        order, so the input's row order cannot change a result's last bit; the distances read the sorted
        predictions. One sort (the core's packed-key sort of the scores), cached."""
        if self._order is None:
            order, p = sort_scores(self.prediction)
            tie = p[1:] == p[:-1]
            if tie.any():  # within runs of equal predictions, by label
                start = np.r_[True, ~tie]
                run = np.cumsum(start) - 1
                length = np.bincount(run)
                idx = np.flatnonzero(length[run] > 1)
                sub = np.lexsort((self.label[order[idx]], run[idx]))
                order[idx] = order[idx][sub]
            self._order, self._sorted = order, p
        return self._order

    def sorted_predictions(self) -> np.ndarray:
        """The predictions in ascending order (the canonical order's)."""
        self.canonical_order()
        return self._sorted

    def layout(self, finest: np.ndarray, n_finest: int) -> dict[str, Any]:
        """Each finest group's rows as one contiguous slice of predictions and labels in the canonical order
        (``bounds``), each row's finest group in the canonical order (``finest_sorted``), and each group's sums
        once computed; cached for the finest partition it was asked for."""
        lay = self._layout
        if lay is None or lay["key"] != (id(finest), n_finest):
            order = self.canonical_order()
            in_order = np.asarray(finest)[order]
            perm = np.argsort(in_order, kind="stable")
            bounds = np.r_[0, np.cumsum(np.bincount(in_order, minlength=n_finest))]
            # gathers along the sorted arrays (increasing within each group), not the rows' random positions
            lay = {"key": (id(finest), n_finest), "finest_sorted": in_order, "bounds": bounds,
                   "p": self._sorted[perm], "y": self.label[order][perm], "totals": None}
            self._layout = lay
        return lay

    def group_rows(self, finest: np.ndarray, n_finest: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each finest group's (predictions, labels), in the canonical order."""
        lay = self.layout(finest, n_finest)
        b = lay["bounds"]
        return [(lay["p"][b[f]:b[f + 1]], lay["y"][b[f]:b[f + 1]]) for f in range(n_finest)]

    def _moments(self, p: np.ndarray, y: np.ndarray, mean: np.ndarray | None = None) -> np.ndarray:
        """The sums of a group's rows (``mean`` given: n times their covariance about it), in row chunks."""
        step = 1 << 16
        if mean is None:
            total = np.zeros(len(COLUMNS))
            for s in range(0, len(p), step):
                total += self.values_of(p[s:s + step], y[s:s + step]).sum(0)
            return total
        cov = np.zeros((len(COLUMNS), len(COLUMNS)))
        for s in range(0, len(p), step):
            c = self.values_of(p[s:s + step], y[s:s + step]) - mean
            cov += np.einsum("nk,nj->kj", c, c)
        return cov

    def table(self, finest: np.ndarray, n_finest: int, y: np.ndarray, model: Any,
              weights: np.ndarray | None) -> np.ndarray:
        if weights is not None:
            raise NotImplementedError("regression sums of an engine's cells")
        groups = self.group_rows(finest, n_finest)
        totals = np.stack([self._moments(p, y_) for p, y_ in groups]) if groups else np.zeros((0, len(COLUMNS)))
        self.layout(finest, n_finest)["totals"] = totals
        return totals

    def replicates(self, table: np.ndarray, n_boot: int, seeds: Sequence[np.random.SeedSequence],
                   finest: np.ndarray, y: np.ndarray, model: Any) -> np.ndarray:
        groups = self.group_rows(finest, len(table))
        out = np.zeros((n_boot, len(table), len(COLUMNS)))

        def one(f: int) -> None:
            (p, y_), rng = groups[f], np.random.default_rng(seeds[f])
            n = len(p)
            if not n:
                return
            if n <= self.exact_rows:
                out[:, f] = group_replicates(self.values_of(p, y_), n_boot, rng, self.exact_rows)
            else:
                total = table[f]
                out[:, f] = normal_sums(total, self._moments(p, y_, total / n), n, n_boot, rng)

        from .._parallel import parallel_map

        order = sorted(range(len(groups)), key=lambda f: -len(groups[f][0]))  # the largest first, on two threads
        parallel_map(lambda fs: [one(f) for f in fs], [order[0::2], order[1::2]])
        return out


def group_replicates(v: np.ndarray, n_boot: int, rng: np.random.Generator, exact_rows: int) -> np.ndarray:
    """``(n_boot, 8)`` resampled sums of one group's rows ``v`` (its size fixed)."""
    n = len(v)
    if n <= exact_rows:
        picks = rng.integers(0, n, size=(n_boot, n))
        picks += (np.arange(n_boot) * n)[:, None]
        counts = np.bincount(picks.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)
        return np.einsum("bn,nk->bk", counts, v)
    total = v.sum(0)
    centred = v - total / n
    return normal_sums(total, np.einsum("nk,nj->kj", centred, centred), n, n_boot, rng)


def normal_sums(total: np.ndarray, cov: np.ndarray, n: int, n_boot: int, rng: np.random.Generator, *,
                count_columns: Sequence[int] = (0,), nonnegative: Sequence[int] = (4, 5, 6),
                bounded: Sequence[tuple[int, int]] = ((7, 0),)) -> np.ndarray:
    """``(n_boot, k)`` sums drawn from the normal distribution with the resampled sums' exact mean (``total``) and
    covariance (``cov``: n times the rows' population covariance), kept in their ranges: ``count_columns`` hold
    the fixed size n, ``nonnegative`` sums (|r|, r^2, y^2) are never negative, and each ``(column, count column)``
    of ``bounded`` (rows above the cut) lies between 0 and n. Defaults: the columns of :data:`COLUMNS`."""
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    sums = total + rng.standard_normal((n_boot, len(total))) @ root.T
    for k in count_columns:
        sums[:, k] = n
    for k in nonnegative:
        np.clip(sums[:, k], 0.0, None, out=sums[:, k])
    for k, _ in bounded:
        np.clip(sums[:, k], 0.0, n, out=sums[:, k])
    return sums


def metrics(sums: np.ndarray) -> dict[str, np.ndarray]:
    """Every regression metric from sums ``(..., 8)`` (a group's, or its replicates'); NaN where undefined (no
    rows; R^2 of a constant label)."""
    s = np.asarray(sums, dtype=np.float64)
    n = s[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = lambda k: np.where(n > 0, s[..., k] / n, np.nan)  # noqa: E731
        ss_tot = s[..., 6] - np.where(n > 0, s[..., 2] ** 2 / n, np.nan)
        r2 = np.where(ss_tot > 1e-12 * np.maximum(s[..., 6], 1e-300), 1.0 - s[..., 5] / ss_tot, np.nan)
        return {"mae": mean(4), "rmse": np.sqrt(mean(5)), "mean_prediction": mean(1), "mean_label": mean(2),
                "mean_residual": mean(3), "r2": r2, "scoring_rate": mean(7)}


#: (name, metric compared, kind, which values are better: "favorable" follows the task's direction)
DISPARITIES = (
    ("mean_prediction_difference", "mean_prediction", "difference", "favorable"),
    ("mean_prediction_ratio", "mean_prediction", "ratio", "favorable"),
    ("mae_difference", "mae", "difference", "lower"),
    ("rmse_difference", "rmse", "difference", "lower"),
    ("mean_residual_difference", "mean_residual", "difference", "favorable"),
    ("scoring_rate_ratio", "scoring_rate", "ratio", "favorable"),
)


def disparities(sums: np.ndarray, reference: int, favorable: str = "higher") -> dict[str, np.ndarray]:
    """Every group against group ``reference`` (last-but-one axis of ``sums (..., G, 8)``: a partition's groups,
    or its replicates'), signed as the binary disparities are: **negative, or a ratio below 1, means the group
    fares worse**. ``favorable``: whether higher predictions help the person ("higher": a credit limit) or harm
    them ("lower": a price, a risk score). Errors (MAE, RMSE) are worse when higher; a negative mean-residual
    difference means the group is under-predicted relative to the reference (worse when higher helps)."""
    if favorable not in ("higher", "lower"):
        raise ValueError(f"favorable={favorable!r}: give 'higher' or 'lower'")
    m = metrics(sums)
    out: dict[str, np.ndarray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, metric, kind, better in DISPARITIES:
            v = m[metric]
            ref = v[..., reference:reference + 1]
            up = better == "higher" or (better == "favorable" and favorable == "higher")
            if kind == "difference":
                out[name] = (v - ref) if up else (ref - v)
            else:
                ratio = (v / ref) if up else (ref / v)
                out[name] = np.where(np.isfinite(ratio), ratio, np.nan)
    return out


def distances(prediction: np.ndarray, codes: np.ndarray, n_groups: int, reference: int) -> dict[str, np.ndarray]:
    """How far each group's predictions lie from the reference group's, as distributions: the two-sample
    Kolmogorov-Smirnov statistic with its p-value (as scipy's ``ks_2samp``: exact when both groups hold up to
    10,000 rows, Smirnov's asymptotic distribution above) and the Wasserstein-1 distance (as scipy's
    ``wasserstein_distance``, in the prediction's unit). ``codes``: each row's group (-1: none). NaN for a group,
    or a reference, without rows; the reference against itself is 0 with p-value 1."""
    pred = np.asarray(prediction, dtype=np.float64)
    order = np.argsort(pred, kind="stable")
    return sorted_distances(pred[order], np.asarray(codes)[order], n_groups, reference)


#: effective sample size above which the KS p-value uses the Kolmogorov limit (see :func:`sorted_distances`)
KSTWO_LIMIT = 100_000


def sorted_distances(pred_sorted: np.ndarray, codes_sorted: np.ndarray, n_groups: int, reference: int,
                     runs: tuple[np.ndarray | None, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """:func:`distances` from the predictions in ascending order and each one's group: every group's empirical
    distribution function at the distinct values, from one cumulative count per group (no sort per group), the
    difference of two of them taken in integers (exact). ``runs``: :func:`value_runs` of ``pred_sorted``, when
    several partitions share it."""
    from scipy.stats import distributions, ks_2samp

    from .._parallel import parallel_map

    ks, p, w1 = (np.full(n_groups, np.nan) for _ in range(3))
    n = np.bincount(codes_sorted[codes_sorted >= 0], minlength=n_groups).astype(np.int64)
    if not len(pred_sorted) or n[reference] == 0:
        return {"ks_distance": ks, "ks_p_value": p, "wasserstein_distance": w1}
    last, dx = runs if runs is not None else value_runs(pred_sorted)
    def counts(g: int, flags: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Rows of group g at or below each distinct value (into ``out``: full-size temporaries are reused, a
        fresh one costs its page faults)."""
        np.equal(codes_sorted, g, out=flags)
        np.cumsum(flags, dtype=np.int64, out=out)
        return out if last is None else out[last]

    ref = counts(reference, np.empty(len(codes_sorted), dtype=bool), np.empty(len(codes_sorted), dtype=np.int64))
    ref = ref.copy() if last is None else ref

    def distances_of(gs: list[int]) -> list[tuple[float, float]]:
        flags = np.empty(len(codes_sorted), dtype=bool)
        out, scaled = np.empty(len(codes_sorted), dtype=np.int64), np.empty(len(ref), dtype=np.int64)
        found = []
        for g in gs:
            diff = counts(g, flags, out)
            diff *= n[reference]
            diff -= np.multiply(ref, n[g], out=scaled)  # (F_g - F_ref) * n_g * n_ref, exactly
            scale = float(n[g]) * float(n[reference])
            d = max(int(diff.max()), -int(diff.min()), 0) / scale
            np.abs(diff, out=diff)
            found.append((min(d, 1.0), float(np.einsum("i,i->", diff[:-1], dx)) / scale))
        return found

    others = [g for g in range(n_groups) if n[g] > 0 and g != reference]
    halves = [others[0::2], others[1::2]]  # the cumulative counts on the two worker threads
    results = parallel_map(distances_of, halves)
    found = {g: r for gs, rs in zip(halves, results) for g, r in zip(gs, rs)}
    for g in range(n_groups):
        if n[g] == 0:
            continue
        if g == reference:
            ks[g], p[g], w1[g] = 0.0, 1.0, 0.0
            continue
        ks[g], w1[g] = found[g]
        if max(n[g], n[reference]) <= 10_000:  # scipy's exact distribution on the two groups' values
            p[g] = float(ks_2samp(pred_sorted[codes_sorted == g], pred_sorted[codes_sorted == reference]).pvalue)
        else:
            m_, n_ = sorted([float(n[g]), float(n[reference])], reverse=True)
            en = np.round(m_ * n_ / (m_ + n_))
            # ks_2samp's: the distribution of the one-sample statistic at the effective size (kstwo); above
            # KSTWO_LIMIT its Kolmogorov limit, within 1% of it there and without kstwo's cost (up to 0.2 s a
            # value far in the tail)
            p[g] = float(np.clip(distributions.kstwo.sf(ks[g], en) if en <= KSTWO_LIMIT
                                 else distributions.kstwobign.sf(ks[g] * np.sqrt(en)), 0, 1))
    return {"ks_distance": ks, "ks_p_value": p, "wasserstein_distance": w1}


def value_runs(pred_sorted: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """The last row of each run of equal values (None: every value distinct) and the gaps between the distinct
    values, of predictions in ascending order."""
    tie = pred_sorted[1:] == pred_sorted[:-1]
    if not tie.any():
        return None, np.diff(pred_sorted)
    last = np.r_[~tie, True]
    return last, np.diff(pred_sorted[last])
