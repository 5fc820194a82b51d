"""Simulation: the 95% bootstrap intervals cover the true value 93-97% of the time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import audit

# population: group A (reference) and B; P(y=1), P(y_hat=1 | y) per group
POP = {"A": dict(n=300, base=0.4, tpr=0.75, fpr=0.20), "B": dict(n=200, base=0.3, tpr=0.60, fpr=0.15)}


def _truth():
    sel = {g: p["base"] * p["tpr"] + (1 - p["base"]) * p["fpr"] for g, p in POP.items()}
    return {
        ("metric", "selection_rate", "B"): sel["B"],
        ("metric", "recall", "A"): POP["A"]["tpr"],
        ("disparity", "demographic_parity_difference", "B"): sel["B"] - sel["A"],
        ("disparity", "demographic_parity_ratio", "B"): sel["B"] / sel["A"],
        ("disparity", "equal_opportunity_difference", "B"): POP["B"]["tpr"] - POP["A"]["tpr"],
        ("disparity", "average_odds_difference", "B"): ((POP["B"]["tpr"] - POP["A"]["tpr"])
                                                       + (POP["B"]["fpr"] - POP["A"]["fpr"])) / 2,
    }


def _sample(rng):
    parts = []
    for g, p in POP.items():
        y = rng.random(p["n"]) < p["base"]
        yhat = np.where(y, rng.random(p["n"]) < p["tpr"], rng.random(p["n"]) < p["fpr"])
        parts.append(pd.DataFrame({"g": g, "y": y.astype(int), "pred": yhat.astype(int)}))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.slow
def test_interval_coverage_is_nominal():
    truth = _truth()
    rng = np.random.default_rng(2024)
    hits = {k: 0 for k in truth}
    sims = 1000
    for i in range(sims):
        df = _sample(rng)
        r = audit.run_audit(None, df, label="y", protected=["g"], predictions="pred", reference={"g": "A"},
                            seed=i, n_bootstrap=1000, check_determinism_rows=0)
        m = r.metrics.set_index(["attribute", "group", "metric"])
        d = r.disparities
        d = d[d.comparison == "vs_reference"].set_index(["attribute", "group", "metric"])
        for (kind, name, group), true in truth.items():
            row = (m if kind == "metric" else d).loc[("g", group, name)]
            hits[(kind, name, group)] += bool(row["ci_low"] <= true <= row["ci_high"])
    coverage = {k[1]: v / sims for k, v in hits.items()}
    for name, c in coverage.items():
        assert 0.93 <= c <= 0.97, (name, c, coverage)


@pytest.mark.slow
def test_score_metric_intervals_match_a_row_bootstrap(adult_scored):
    """AUC, average precision, Brier and ECE intervals agree with a plain row bootstrap, for groups resampled on
    cells and for groups resampled exactly (to 15% of the interval's width; the row bootstrap's own Monte Carlo
    error is ~5%)."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    def ece(y, s):  # the library's definition: 10 equal-width bins, right-closed, weighted by rows
        b = np.searchsorted(np.linspace(0, 1, 11)[1:-1], s, side="left")
        return sum(abs(s[b == k].sum() - y[b == k].sum()) for k in range(10)) / len(y)

    r = audit.run_audit(None, adult_scored, label="income", positive_label=">50K", protected=["sex", "race"],
                        scores="score", n_bootstrap=1000)
    m = r.metrics.set_index(["attribute", "group", "metric"])
    rng = np.random.default_rng(0)
    # sex groups (5,421 and 10,860 rows) are resampled on cells of their own scores; Black (1,561) and
    # Asian-Pac-Islander (480) exactly, on their rows
    for attr, g in (("sex", "Female"), ("sex", "Male"), ("race", "Black"), ("race", "Asian-Pac-Islander")):
        part = adult_scored[adult_scored[attr] == g]
        y = (part["income"] == ">50K").to_numpy()
        s = part["score"].to_numpy()
        idx = rng.integers(0, len(y), size=(400, len(y)))
        for metric, fn in (("roc_auc", roc_auc_score), ("average_precision", average_precision_score),
                           ("brier", brier_score_loss), ("ece", ece)):
            reps = np.array([fn(y[i], s[i]) for i in idx])
            lo, hi = np.quantile(reps, [0.025, 0.975])
            row = m.loc[(attr, g, metric)]
            width = hi - lo
            assert abs(row["ci_low"] - lo) < 0.15 * width and abs(row["ci_high"] - hi) < 0.15 * width, \
                (g, metric, (row["ci_low"], row["ci_high"]), (lo, hi))


# 40 rows against a reference of 1,000: a common size, moderate rates, and a rare outcome (a handful of positives)
SMALL_SCENARIOS = {
    "moderate": ({"base": 0.4, "tpr": 0.75, "fpr": 0.20}, {"base": 0.3, "tpr": 0.60, "fpr": 0.15}),
    "close odds": ({"base": 0.4, "tpr": 0.75, "fpr": 0.20}, {"base": 0.4, "tpr": 0.70, "fpr": 0.15}),
    "rare positives": ({"base": 0.2, "tpr": 0.90, "fpr": 0.05}, {"base": 0.1, "tpr": 0.85, "fpr": 0.03}),
}


def _disparity_truth(a: dict, b: dict) -> dict[str, float]:
    """Every count-based disparity of group B against A, in the audit's signs (favourable = positive label)."""
    def rates(p):
        sel = p["base"] * p["tpr"] + (1 - p["base"]) * p["fpr"]
        return dict(sel=sel, tpr=p["tpr"], fpr=p["fpr"], prec=p["base"] * p["tpr"] / sel,
                    acc=p["base"] * p["tpr"] + (1 - p["base"]) * (1 - p["fpr"]), base=p["base"])

    ra, rb = rates(a), rates(b)
    dt, df = rb["tpr"] - ra["tpr"], rb["fpr"] - ra["fpr"]
    return {"demographic_parity_difference": rb["sel"] - ra["sel"], "demographic_parity_ratio": rb["sel"] / ra["sel"],
            "equal_opportunity_difference": dt, "equalized_odds_difference": min(dt, df),
            "average_odds_difference": (dt + df) / 2, "predictive_parity_difference": ra["prec"] - rb["prec"],
            "fpr_difference": df, "fnr_difference": dt, "accuracy_difference": rb["acc"] - ra["acc"],
            "base_rate_difference": rb["base"] - ra["base"], "base_rate_ratio": rb["base"] / ra["base"]}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(SMALL_SCENARIOS))
def test_every_disparity_covers_at_40_rows(scenario):
    """Issue 17: percentile intervals covered 0.89-0.92 at 40 rows against 1,000 (and far less with a handful of
    positives, where the resamples cannot move a rate); comparisons with few trials, successes or failures use score
    intervals. Every disparity covers at least 0.93 (1,000 simulations, seeded)."""
    pa, pb = SMALL_SCENARIOS[scenario]
    truth = _disparity_truth(pa, pb)
    rng = np.random.default_rng(17)
    sims = 1000
    hits = {k: 0 for k in truth}
    for i in range(sims):
        parts = []
        for g, p, n in (("A", pa, 1000), ("B", pb, 40)):
            y = rng.random(n) < p["base"]
            yhat = np.where(y, rng.random(n) < p["tpr"], rng.random(n) < p["fpr"])
            parts.append(pd.DataFrame({"g": g, "y": y.astype(int), "pred": yhat.astype(int)}))
        r = audit.run_audit(None, pd.concat(parts, ignore_index=True), label="y", protected=["g"], predictions="pred",
                            reference={"g": "A"}, seed=i, n_bootstrap=1000, check_determinism_rows=0,
                            min_group_size=1, min_positives=1, min_negatives=1)
        d = r.disparities
        d = d[(d.comparison == "vs_reference") & (d.group == "B")].set_index("metric")
        for name, true in truth.items():
            row = d.loc[name]  # an interval withheld (or undefined) counts as a miss
            hits[name] += bool(row["ci_low"] <= true <= row["ci_high"])
    coverage = {k: v / sims for k, v in hits.items()}
    assert min(coverage.values()) >= 0.93, coverage
