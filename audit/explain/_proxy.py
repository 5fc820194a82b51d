"""Proxy scan: how well the model's input features predict each protected attribute, and which features are
associated with it.

* Per attribute: out-of-fold ROC AUC (3 folds; one-vs-rest macro average for several groups) of a quick
  gradient-boosting classifier on the model's features (the protected attributes themselves left out), with a
  percentile interval from a seeded bootstrap of the out-of-fold predictions. 0.5 means the features carry no
  trace of the attribute; near 1 means the model can recover it even when it never sees it.
* Per feature: Cramér's V (text or categorical features) or the correlation ratio eta (numbers) with the
  attribute, both in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._parallel import fit_threads


#: text columns with more distinct values than this are free text, not categories (gradient boosting bins at 255)
MAX_CATEGORIES = 200
#: Cramér's V or eta at or above which a feature counts as associated with the attribute
PROXY_ASSOCIATION = 0.3


@dataclass(frozen=True)
class ProxyAUC:
    attribute: str
    auc: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    reason: str


def _is_text(s: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(s.dtype) or isinstance(s.dtype, pd.CategoricalDtype) or \
        pd.api.types.is_bool_dtype(s.dtype)


def cramers_v(x: pd.Series, g: np.ndarray) -> float:
    table = pd.crosstab(x.astype(object).fillna("(missing)").to_numpy(), g).to_numpy(dtype=float)
    n = table.sum()
    if n == 0 or min(table.shape) < 2:
        return 0.0
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = ((table - expected) ** 2 / np.where(expected > 0, expected, 1)).sum()
    return float(np.sqrt(chi2 / (n * (min(table.shape) - 1))))


def correlation_ratio(x: pd.Series, g: np.ndarray) -> float:
    v = x.to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(v)
    v, g = v[ok], g[ok]
    if len(v) < 2 or np.var(v) == 0:
        return 0.0
    codes, inv = np.unique(g, return_inverse=True)
    sums = np.bincount(inv, weights=v)
    counts = np.bincount(inv)
    between = (counts * (sums / counts - v.mean()) ** 2).sum()
    return float(np.sqrt(between / ((v - v.mean()) ** 2).sum()))


def association(x: pd.Series, g: np.ndarray) -> tuple[float | None, str]:
    if x.isna().all():
        return None, "not measured: the column has no values"
    if _is_text(x):
        if x.nunique(dropna=False) > MAX_CATEGORIES:
            return None, f"not measured: free text (more than {MAX_CATEGORIES} distinct values)"
        return cramers_v(x, g), "Cramér's V"
    return correlation_ratio(x, g), "correlation ratio (eta)"


def _weighted_auc(score: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC (ties count one half) of ``score`` for ``positive``, once per row of row ``weights`` ``(B, n)``:
    the scores are sorted once, each resample is a weighting of the sorted rows."""
    order = np.argsort(score, kind="stable")
    s, pos = score[order], positive[order]
    w = weights[:, order]
    wp, wn = w * pos, w * ~pos
    # negatives strictly below each row, plus half of those tied with it
    level = np.r_[0, np.cumsum(s[1:] != s[:-1])]
    starts = np.r_[0, np.flatnonzero(s[1:] != s[:-1]) + 1]
    cum_neg = np.cumsum(wn, axis=1)
    below = np.where(starts[level] > 0, cum_neg[:, np.maximum(starts[level] - 1, 0)], 0.0)
    tied = np.add.reduceat(wn, starts, axis=1)[:, level]
    P, N = wp.sum(1), wn.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((P > 0) & (N > 0), (wp * (below + 0.5 * tied)).sum(1) / (P * N), np.nan)


def proxy_auc(X: pd.DataFrame, g: np.ndarray, seed: int, n_boot: int = 200, confidence: float = 0.95) -> ProxyAUC:
    """Out-of-fold AUC of predicting the groups ``g`` from ``X``, with a bootstrap interval."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    name = ""
    values, counts = np.unique(g, return_counts=True)
    keep_groups = values[counts >= 10]  # a group needs rows in every fold
    dropped = len(values) - len(keep_groups)
    mask = np.isin(g, keep_groups)
    if len(keep_groups) < 2:
        return ProxyAUC(name, None, None, None, int(mask.sum()), "fewer than two groups with 10 or more rows")
    if X.shape[1] == 0:
        return ProxyAUC(name, None, None, None, int(mask.sum()), "the model has no features besides the protected "
                                                                "attributes")
    Xk = X.loc[mask].copy()
    skipped, empty = [], []
    for col in list(Xk.columns):
        if Xk[col].isna().all():  # nothing to learn from, and gradient boosting cannot bin it
            empty.append(str(col))
            Xk = Xk.drop(columns=[col])
            continue
        if _is_text(Xk[col]):
            if Xk[col].nunique(dropna=False) > MAX_CATEGORIES:  # free text: not a category the classifier can use
                skipped.append(str(col))
                Xk = Xk.drop(columns=[col])
                continue
            Xk[col] = Xk[col].astype(str).astype("category")
    if Xk.shape[1] == 0:
        left = [f"free-text columns left out: {', '.join(skipped)}"] if skipped else []
        left += [f"columns without values left out: {', '.join(empty)}"] if empty else []
        return ProxyAUC(name, None, None, None, int(mask.sum()), f"no usable features ({'; '.join(left)})")
    y = np.searchsorted(keep_groups, g[mask])
    clf = HistGradientBoostingClassifier(max_iter=50, categorical_features="from_dtype", random_state=seed % (2**32))
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed % (2**32))
    with fit_threads(len(y)):  # the library's own fit: threads sized to the CPUs this process may use and the rows
        proba = cross_val_predict(clf, Xk, y, cv=folds, method="predict_proba")

    rng = np.random.default_rng([seed, 0x9E0])
    n = len(y)
    picks = rng.integers(0, n, size=(n_boot, n)) + (np.arange(n_boot) * n)[:, None]
    weights = np.bincount(picks.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(float)
    classes = range(len(keep_groups)) if len(keep_groups) > 2 else [1]
    point = np.mean([_weighted_auc(proba[:, k], y == k, np.ones((1, n)))[0] for k in classes])
    reps = np.mean([_weighted_auc(proba[:, k], y == k, weights) for k in classes], axis=0)
    reps = reps[np.isfinite(reps)]
    alpha = (1 - confidence) / 2
    lo, hi = (np.quantile(reps, [alpha, 1 - alpha]) if len(reps) else (np.nan, np.nan))
    auc = float(point)
    reasons = [f"{dropped} group(s) with fewer than 10 rows left out"] if dropped else []
    if skipped:
        reasons.append(f"free-text column(s) with more than {MAX_CATEGORIES} values left out: {', '.join(skipped)}")
    if empty:
        reasons.append(f"column(s) without values left out: {', '.join(empty)}")
    reason = "; ".join(reasons)
    return ProxyAUC(name, auc, float(lo), float(hi), int(mask.sum()), reason)
