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

    def values(self, rows: Any = slice(None)) -> np.ndarray:
        """``(rows, 8)``: each row's contribution to the sums."""
        p, y = self.prediction[rows], self.label[rows]
        r = p - y
        return np.stack([np.ones_like(p), p, y, r, np.abs(r), r * r, y * y, (p > self.cut).astype(np.float64)],
                        axis=1)

    def table(self, finest: np.ndarray, n_finest: int, y: np.ndarray, model: Any,
              weights: np.ndarray | None) -> np.ndarray:
        if weights is not None:
            raise NotImplementedError("regression sums of an engine's cells")
        v = self.values()
        return np.stack([np.bincount(finest, weights=v[:, k], minlength=n_finest) for k in range(v.shape[1])],
                        axis=1)

    def replicates(self, table: np.ndarray, n_boot: int, seeds: Sequence[np.random.SeedSequence],
                   finest: np.ndarray, y: np.ndarray, model: Any) -> np.ndarray:
        order = np.argsort(finest, kind="stable")
        bounds = np.searchsorted(finest[order], np.arange(len(table) + 1))
        out = np.zeros((n_boot, len(table), len(COLUMNS)))
        for f, seq in enumerate(seeds):
            rows = order[bounds[f]:bounds[f + 1]]
            # in a canonical order (by prediction, then label): the draws do not depend on the input's row order
            rows = rows[np.lexsort((self.label[rows], self.prediction[rows]))]
            if len(rows):
                out[:, f] = group_replicates(self.values(rows), n_boot, np.random.default_rng(seq),
                                             self.exact_rows)
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
    cov = np.einsum("nk,nj->kj", centred, centred)  # n times the rows' (population) covariance
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    sums = total + rng.standard_normal((n_boot, v.shape[1])) @ root.T
    sums[:, 0] = n
    for k in (4, 5, 6):  # |r|, r^2, y^2: never negative
        np.clip(sums[:, k], 0.0, None, out=sums[:, k])
    np.clip(sums[:, 7], 0.0, n, out=sums[:, 7])
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
    Kolmogorov-Smirnov statistic with its p-value (scipy's ``ks_2samp``: exact for small groups, asymptotic for
    large ones) and the Wasserstein-1 distance (scipy's ``wasserstein_distance``, in the prediction's unit). NaN
    for a group, or a reference, without rows; the reference against itself is 0 with p-value 1."""
    from scipy.stats import ks_2samp, wasserstein_distance

    pred = np.asarray(prediction, dtype=np.float64)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(np.asarray(codes)[order], np.arange(n_groups + 1))
    values = [pred[order[bounds[g]:bounds[g + 1]]] for g in range(n_groups)]
    ref = values[reference]
    ks, p, w1 = (np.full(n_groups, np.nan) for _ in range(3))
    for g, v in enumerate(values):
        if len(v) == 0 or len(ref) == 0:
            continue
        if g == reference:
            ks[g], p[g], w1[g] = 0.0, 1.0, 0.0
            continue
        test = ks_2samp(v, ref)
        ks[g], p[g], w1[g] = float(test.statistic), float(test.pvalue), float(wasserstein_distance(v, ref))
    return {"ks_distance": ks, "ks_p_value": p, "wasserstein_distance": w1}
