"""The metric catalogue (audit/metrics.py) is the one list: every metric the audit reports is in it, every value
and interval end lies in its range, the lists the modules and the gate use are its own, and the glossary names
every metric."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import audit
from audit import metrics as M


def _check_ranges(result) -> int:
    checked = 0
    for table in (result.metrics_table.to_frame(), result.disparities_table.to_frame()):
        for _, row in table.iterrows():
            if row["metric"] in ("positives", "negatives", "predicted_positives"):
                continue  # counts
            m = M.BY_NAME[row["metric"]]  # every reported metric is catalogued
            for key in ("value", "ci_low", "ci_high"):
                v = row[key]
                if v == v and v is not None:
                    assert m.contains(float(v)), (row["attribute"], row["group"], row["metric"], key, v)
                    checked += 1
    sec = result.section("explanations")
    if sec is not None:
        for r in sec.table("proxy_auc").records():
            for key in ("auc", "ci_low", "ci_high"):
                if r[key] is not None:
                    assert M.BY_NAME["proxy_auc"].contains(r[key])
                    checked += 1
    return checked


def test_every_reported_value_lies_in_its_metrics_range(adult_scored, compas_scored, german_scored):
    results = [
        audit.run_audit(None, adult_scored, label="income", positive_label=">50K", protected=["sex", "race"],
                        scores="score", n_bootstrap=200),
        audit.run_audit(None, compas_scored, label="two_year_recid", positive_label=1, favorable=False,
                        protected=["race", "sex"], scores="score", n_bootstrap=200),
        audit.run_audit(None, german_scored, label="credit", positive_label="good", protected=["sex", "age_group"],
                        scores="score", n_bootstrap=200),
    ]
    # bunched scores near 0 and 1, tiny groups
    rng = np.random.default_rng(4)
    import pandas as pd

    n = 600
    df = pd.DataFrame({"g": rng.choice(["a", "b", "c"], n, p=[0.9, 0.08, 0.02]), "y": rng.integers(0, 2, n)})
    df["s"] = np.where(rng.random(n) < 0.5, 1e-9, 1 - 1e-9)
    results.append(audit.run_audit(None, df, label="y", protected="g", scores="s", n_bootstrap=200,
                                   min_group_size=1, min_positives=1, min_negatives=1))
    assert sum(_check_ranges(r) for r in results) > 3000


def test_the_lists_of_the_code_are_the_catalogues():
    from audit.gate import policy as gate
    from audit.modules import bias, multiclass, regression
    from audit.report import html
    from audit.stats import classes, counts, moments, scores

    assert counts.COUNT_METRICS == M.names("count") and scores.SCORE_METRICS == M.names("score")
    assert moments.METRICS == M.names("regression")
    assert set(classes.CLASS_METRICS) <= set(M.COUNT_METRICS)  # one-vs-rest rows reuse the binary names
    produced = ({d.name for d in bias.DISPARITIES} | {d[0] for d in moments.DISPARITIES}
                | set(regression.PAIRS.values()) | set(regression.PAIRS) | {d[0] for d in multiclass.DISPARITIES}
                | {multiclass.WORST})
    assert produced == set(M.DISPARITY_METRICS)
    assert gate.DISPARITY_METRICS is M.DISPARITY_METRICS and html.PRIORITY is M.DISPARITY_METRICS
    assert set(gate.PERFORMANCE_METRICS) == set(M.COUNT_METRICS) | set(M.SCORE_METRICS) | set(M.names("regression"))
    for m in M.CATALOGUE:
        assert m.family in M.FAMILIES and m.low < m.high
        assert (m.better is not None) == (m.family in ("count", "score", "regression") and m.name not in
                                          ("base_rate", "selection_rate", "mean_score", "calibration_in_the_large",
                                           "mean_prediction", "mean_label", "mean_residual", "scoring_rate"))


def test_the_glossary_names_every_metric():
    text = (Path(__file__).parents[1] / "docs" / "glossary.md").read_text()
    missing = [m.name for m in M.CATALOGUE if f"`{m.name}`" not in text]
    assert not missing, missing


@pytest.mark.parametrize("value, ok", [(0.0, True), (1.0, True), (-1e-12, False), (math.nan, False)])
def test_range_check(value, ok):
    assert M.BY_NAME["accuracy"].contains(value) is ok
    assert M.BY_NAME["demographic_parity_ratio"].contains(5.0)
