"""Two-sample tests for disparities and multiple-comparison corrections."""

from __future__ import annotations

import math

import numpy as np


def two_proportion_p(x1: float, n1: float, x2: float, n2: float) -> float:
    """Two-sided p-value for equal proportions ``x1/n1`` and ``x2/n2``.

    Pearson's chi-squared test (the pooled two-proportion z-test) when every expected cell count of
    the 2x2 table is at least 5, Fisher's exact test otherwise. NaN when a group has no trials.
    """
    if n1 <= 0 or n2 <= 0:
        return math.nan
    pooled = (x1 + x2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return 1.0  # both groups all successes or all failures: no evidence of a difference
    expected = min(n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled))
    if expected >= 5:
        se = math.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
        z = (x1 / n1 - x2 / n2) / se
        return math.erfc(abs(z) / math.sqrt(2.0))
    return fisher_two_sided(int(x1), int(n1), int(x2), int(n2))


def fisher_two_sided(x1: int, n1: int, x2: int, n2: int) -> float:
    """Fisher's exact test of the 2x2 table ``[[x1, n1 - x1], [x2, n2 - x2]]``, two-sided: the total
    probability, with the margins fixed, of the tables no more likely than the observed one (relative
    tolerance 1e-7, as R's ``fisher.test``). Agrees with ``scipy.stats.fisher_exact``; vectorised over
    the support instead of a scipy distribution call per table."""
    from scipy.special import gammaln

    k = x1 + x2  # successes (the column margin)
    total = n1 + n2
    lo, hi = max(0, k - n2), min(k, n1)
    if lo == hi:
        return 1.0
    x = np.arange(lo, hi + 1)
    logp = (gammaln(n1 + 1) - gammaln(x + 1) - gammaln(n1 - x + 1)
            + gammaln(n2 + 1) - gammaln(k - x + 1) - gammaln(n2 - k + x + 1)
            - gammaln(total + 1) + gammaln(k + 1) + gammaln(total - k + 1))
    p = np.exp(logp)
    observed = p[x1 - lo]
    return float(min(1.0, p[p <= observed * (1 + 1e-7)].sum()))


#: a bootstrap standard error this small relative to the estimate is rounding noise of a constant, not a spread
DEGENERATE = 1e-10


def wald_p(estimate: float, se: float) -> float:
    """Two-sided p-value of ``estimate / se`` against a standard normal; NaN if se is not positive or is only
    rounding noise (replicates that cannot move give no test, never a tiny p-value)."""
    if not (math.isfinite(estimate) and math.isfinite(se)) or se <= DEGENERATE * max(1.0, abs(estimate)):
        return math.nan
    return math.erfc(abs(estimate / se) / math.sqrt(2.0))


def adjust(p: np.ndarray, method: str) -> np.ndarray:
    """Adjusted p-values: ``holm`` (family-wise, step-down), ``bonferroni``, ``fdr_bh``
    (Benjamini-Hochberg false discovery rate) or ``none``. NaN entries are left out of the family."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    m = len(q)
    if m == 0:
        return out
    if method == "none":
        adj = q
    elif method == "bonferroni":
        adj = np.minimum(q * m, 1.0)
    elif method == "holm":
        order = np.argsort(q, kind="stable")
        stepped = np.maximum.accumulate((m - np.arange(m)) * q[order])
        adj = np.empty(m)
        adj[order] = np.minimum(stepped, 1.0)
    elif method == "fdr_bh":
        order = np.argsort(q, kind="stable")[::-1]
        ranks = m - np.arange(m)
        stepped = np.minimum.accumulate(q[order] * m / ranks)
        adj = np.empty(m)
        adj[order] = np.minimum(stepped, 1.0)
    else:  # validated in AuditConfig
        raise ValueError(method)
    out[ok] = adj
    return out
