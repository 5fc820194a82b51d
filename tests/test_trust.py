"""Numbers a reviewer can trust: score-metric intervals that follow each group's data and stay in range, one
sign convention, intervals that do not depend on group order, no certain-looking intervals from tiny groups."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from scipy.stats import norm, rankdata
from sklearn.metrics import average_precision_score, log_loss, roc_auc_score

import audit
from audit.stats import score_boot

RANGES = {  # every metric's range; differences of rates lie in [-1, 1]
    "roc_auc": (0, 1), "average_precision": (0, 1), "brier": (0, 1), "log_loss": (0, math.inf), "ece": (0, 1),
    "mean_score": (0, 1), "calibration_in_the_large": (-1, 1),
}


def _ece(y, s, bins=10):
    b = np.searchsorted(np.linspace(0, 1, bins + 1)[1:-1], s, side="left")
    return sum(abs(s[b == k].sum() - y[b == k].sum()) for k in range(bins)) / len(y)


def _replicates_with(weights: np.ndarray, s: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """exact_replicates with given row weights (rows in ascending (score, label) order)."""
    order = np.lexsort((y, s))
    s, y = s[order], y[order]
    cal = np.searchsorted(np.linspace(0, 1, 11)[1:-1], s, side="left")
    p = np.clip(s, np.finfo(float).eps, 1 - np.finfo(float).eps)
    brier = (s - y) ** 2
    ll = -np.where(y == 1, np.log(p), np.log1p(-p))
    original = score_boot.poisson_weights
    score_boot.poisson_weights = lambda rng, b, n: weights[:, order]
    try:
        return score_boot.exact_replicates(np.random.default_rng(0), len(weights), s, y.astype(np.int8), cal,
                                           brier, ll, 10)
    finally:
        score_boot.poisson_weights = original


def test_exact_replicates_equal_sklearn_on_resampled_rows():
    """Each replicate is the metric of the resampled rows, computed exactly (ties, mixed ties, both labels)."""
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(60):
        n = int(rng.integers(2, 120))
        s = np.round(rng.random(n), int(rng.integers(1, 4)))  # many ties at 1 decimal
        y = (rng.random(n) < s).astype(int)
        subsets = (rng.random((4, n)) < 0.7).astype(float)  # 0/1 weights: a subset of the rows
        counts = rng.integers(0, 4, size=(4, n)).astype(float)  # integer weights: rows repeated
        for w, out in ((subsets, _replicates_with(subsets, s, y)), (counts, _replicates_with(counts, s, y))):
            for b in range(len(w)):
                keep = np.repeat(np.arange(n), w[b].astype(int))
                yy, ss = y[keep], s[keep]
                if len(keep) == 0:
                    assert math.isnan(out["brier"][b])
                    continue
                assert out["brier"][b] == pytest.approx(np.mean((ss - yy) ** 2), abs=1e-12)
                assert out["log_loss"][b] == pytest.approx(log_loss(yy, ss, labels=[0, 1]), abs=1e-9)
                assert out["ece"][b] == pytest.approx(_ece(yy, ss), abs=1e-12)
                assert out["calibration_in_the_large"][b] == pytest.approx(ss.mean() - yy.mean(), abs=1e-12)
                if 0 < yy.sum() < len(yy):
                    assert out["roc_auc"][b] == pytest.approx(roc_auc_score(yy, ss), abs=1e-12)
                    checked += 1
                if yy.sum() and w[b].max() <= 1:  # subsets: scikit-learn's average precision exactly
                    assert out["average_precision"][b] == pytest.approx(average_precision_score(yy, ss), abs=1e-12)
                if yy.sum() == 0:
                    assert math.isnan(out["average_precision"][b])
    assert checked > 200


def test_exact_average_precision_counts_copies_as_adjacent_distinct_scores():
    """A row drawn k times adds k adjacent positives (never an invented tie): scikit-learn on copies with
    distinct, order-keeping offsets gives the same value when the data has no ties."""
    rng = np.random.default_rng(5)
    for _ in range(40):
        n = int(rng.integers(3, 80))
        s = rng.permutation(n) / n + 0.001
        y = (rng.random(n) < s).astype(int)
        w = rng.integers(0, 4, size=(3, n)).astype(float)
        out = _replicates_with(w, s, y)
        for b in range(3):
            keep = np.repeat(np.arange(n), w[b].astype(int))
            copy_no = np.concatenate([np.arange(k) for k in w[b].astype(int)]) if len(keep) else np.array([])
            if y[keep].sum():
                jittered = s[keep] + copy_no * 1e-9  # copies next to each other, above the original
                assert out["average_precision"][b] == pytest.approx(
                    average_precision_score(y[keep], jittered), abs=1e-12)


def _zero_width_case():
    rng = np.random.default_rng(0)
    ya = rng.uniform(size=20000) < .4
    sa = expit(1.5 * rng.normal(size=20000) + 1.4 * ya - .6)
    yb = rng.uniform(size=200) < .4
    sb = 0.62 + 0.02 * expit(rng.normal(size=200) + 1.5 * yb)
    df = pd.DataFrame({"g": ["A"] * 20000 + ["B"] * 200, "y": np.r_[ya, yb].astype(int)})
    return df, np.r_[sa, sb], yb.astype(int), sb


def test_group_inside_one_score_band_gets_an_honest_auc_interval():
    """Regression (issue 8): B's scores fall inside one former shared bin; its AUC interval collapsed to a point
    and the AUC difference got p = 8.6e-297."""
    df, scores, yb, sb = _zero_width_case()
    r = audit.run_audit(None, df, label="y", positive_label=1, protected=["g"], reference={"g": "A"}, scores=scores,
                        seed=0)
    m = r.metrics.set_index(["attribute", "group", "metric"])
    row = m.loc[("g", "B", "roc_auc")]
    assert row["value"] == pytest.approx(roc_auc_score(yb, sb), abs=1e-12)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, len(yb), size=(1000, len(yb)))
    plain = np.quantile([roc_auc_score(yb[i], sb[i]) for i in idx], [0.025, 0.975])  # ~[0.818, 0.921]
    width = plain[1] - plain[0]
    assert abs(row["ci_low"] - plain[0]) < 0.1 * width and abs(row["ci_high"] - plain[1]) < 0.1 * width
    d = r.disparities
    diff = d[(d.group == "B") & (d.metric == "roc_auc_difference")].iloc[0]
    assert diff["ci_high"] - diff["ci_low"] > 0.08
    assert diff["p_value_raw"] > 1e-12  # z about 5, not 36


def _all_in_range(result) -> list[tuple]:
    bad = []
    for r in result.metrics.itertuples():
        if r.ci_low is None or not np.isfinite(r.ci_low):
            continue
        lo, hi = RANGES.get(r.metric, (0, 1))
        if not (lo - 1e-12 <= r.ci_low <= r.ci_high <= hi + 1e-12):
            bad.append((r.attribute, r.group, r.metric, r.ci_low, r.ci_high))
    for r in result.disparities.itertuples():
        if r.ci_low is None or not np.isfinite(r.ci_low):
            continue
        if r.metric.endswith("_ratio"):
            lo, hi = (0, 1) if r.comparison == "max_gap" else (0, math.inf)
        else:
            lo, hi = (0, 1) if r.comparison == "max_gap" else (-1, 1)
        if r.metric == "calibration_gap" and r.comparison == "vs_reference":
            lo, hi = -2, 2
        if not (lo - 1e-12 <= r.ci_low <= r.ci_high <= hi + 1e-12):
            bad.append((r.attribute, r.group, r.metric, r.ci_low, r.ci_high))
    return bad


def test_no_interval_leaves_its_range_on_the_bundled_data(adult_scored, compas_scored, german_scored):
    runs = [
        audit.run_audit(None, adult_scored, label="income", positive_label=">50K", protected=["sex", "race"],
                        scores="score", seed=0),
        audit.run_audit(None, compas_scored, label="two_year_recid", positive_label=1, favorable=False,
                        protected=["race", "sex"], scores="score", seed=0),
        audit.run_audit(None, german_scored, label="credit", positive_label="good", protected=["sex", "age_group"],
                        scores="score", seed=0),
    ]
    for r in runs:
        assert _all_in_range(r) == []
    # the demo's `Female & Amer-Indian-Eskimo` AUC interval used to end at 1.005
    m = runs[0].metrics.set_index(["attribute", "group", "metric"])
    assert m.loc[("sex & race", "Female & Amer-Indian-Eskimo", "roc_auc"), "ci_high"] <= 1.0


@pytest.mark.parametrize("n", [5, 39, 60, 200, 500, 5000])
def test_no_interval_leaves_its_range_in_small_high_auc_groups(n):
    rng = np.random.default_rng(n)
    parts = []
    for g, size in (("big", 3000), ("small", n)):
        y = rng.random(size) < 0.3
        s = expit(rng.normal(size=size) + 4.5 * y - 3)  # AUC about 0.999
        parts.append(pd.DataFrame({"g": g, "y": y.astype(int), "s": s}))
    df = pd.concat(parts, ignore_index=True)
    r = audit.run_audit(None, df, label="y", positive_label=1, protected=["g"], scores="s", seed=1,
                        check_determinism_rows=0)
    assert _all_in_range(r) == []


def _plain_bootstrap(y, s, n_boot, rng):
    """A plain row bootstrap of ROC AUC and (scikit-learn's) average precision, vectorised."""
    n = len(y)
    idx = rng.integers(0, n, (n_boot, n))
    ys, ss = y[idx], s[idx]
    pos = ys.sum(1)
    neg = n - pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((rankdata(ss, axis=1) * ys).sum(1) - pos * (pos + 1) / 2) / (pos * neg)
        o = np.argsort(-ss, axis=1, kind="stable")
        yo, so = np.take_along_axis(ys, o, 1), np.take_along_axis(ss, o, 1)
        tp = np.cumsum(yo, 1)
        last = np.ones_like(yo, dtype=bool)
        last[:, :-1] = so[:, :-1] != so[:, 1:]
        prev = np.zeros_like(tp)
        prev[:, 1:] = np.maximum.accumulate(np.where(last, tp, 0), 1)[:, :-1]
        ap = (last * (tp - prev) * tp / np.arange(1, n + 1)).sum(1) / pos
    return auc[(pos > 0) & (neg > 0)], ap[pos > 0]


@pytest.mark.slow
def test_auc_and_ap_coverage_in_small_high_auc_groups_matches_a_plain_row_bootstrap():
    """Simulation: groups of 60, 150 and 400 rows with a true AUC of 0.98. The coverage of our AUC and AP
    intervals is within two points of a plain row bootstrap's (the percentile bootstrap itself under-covers
    in the 60-row group; ours must not be worse)."""
    delta, base, sizes, sims = 2.905, 0.4, {"a": 60, "b": 150, "c": 400}, 200
    rng = np.random.default_rng(7)
    yb = rng.random(1_000_000) < base
    true = {"roc_auc": norm.cdf(delta / np.sqrt(2)),
            "average_precision": average_precision_score(yb, expit(rng.normal(size=len(yb)) + delta * yb))}
    ours = {k: 0 for k in true}
    plain = {k: 0 for k in true}
    per_size = {}
    for i in range(sims):
        parts = []
        for g, n in sizes.items():
            y = rng.random(n) < base
            parts.append(pd.DataFrame({"g": g, "y": y.astype(int), "s": expit(rng.normal(size=n) + delta * y)}))
        df = pd.concat(parts, ignore_index=True)
        r = audit.run_audit(None, df, label="y", positive_label=1, protected=["g"], scores="s", seed=i,
                            check_determinism_rows=0)
        m = r.metrics.set_index(["attribute", "group", "metric"])
        for g in sizes:
            part = df[df.g == g]
            reps = dict(zip(true, _plain_bootstrap(part.y.to_numpy(), part.s.to_numpy(), 1000, rng)))
            for metric, truth in true.items():
                row = m.loc[("g", g, metric)]
                lo, hi = np.quantile(reps[metric], [0.025, 0.975])
                hit_ours = row["ci_low"] is not None and row["ci_low"] <= truth <= row["ci_high"]
                hit_plain = lo <= truth <= hi
                ours[metric] += hit_ours
                plain[metric] += hit_plain
                k = per_size.setdefault((g, metric), [0, 0])
                k[0] += hit_ours
                k[1] += hit_plain
    total = sims * len(sizes)
    for metric in true:
        assert abs(ours[metric] - plain[metric]) / total <= 0.02, (metric, ours, plain)
    for key, (a, b) in per_size.items():
        assert abs(a - b) / sims <= 0.035, (key, a / sims, b / sims)


def _compas_with_order(df: pd.DataFrame, categories: list[str]) -> pd.DataFrame:
    out = df.copy()
    out["race"] = pd.Categorical(out["race"].astype(str), categories=categories)
    return out


def _tables(r) -> tuple[str, str]:
    return (r.metrics.to_json(orient="records", double_precision=15),
            r.disparities.to_json(orient="records", double_precision=15))


def test_intervals_do_not_depend_on_group_order_or_other_groups_names(compas_scored):
    """Regression (issue 8): random streams were assigned by a group's position, so reordering a categorical's
    categories moved intervals by up to 0.14 on COMPAS."""
    kw = dict(label="two_year_recid", positive_label=1, favorable=False, protected=["race", "sex"], scores="score",
              seed=0, reference={"race": "Caucasian", "sex": "Female"})
    cats = sorted(compas_scored["race"].astype(str).unique())
    a = audit.run_audit(None, _compas_with_order(compas_scored, cats), **kw)
    b = audit.run_audit(None, _compas_with_order(compas_scored, cats[::-1]), **kw)
    ma, mb = (x.metrics.sort_values(["attribute", "group", "metric"]).reset_index(drop=True) for x in (a, b))
    pd.testing.assert_frame_equal(ma, mb)
    da, db = (x.disparities.sort_values(["attribute", "group", "metric", "comparison"]).reset_index(drop=True)
              for x in (a, b))
    pd.testing.assert_frame_equal(da, db)
    # renaming one group leaves every other group's intervals unchanged
    renamed = compas_scored.copy()
    renamed["race"] = renamed["race"].astype(str).replace({"Other": "Another group"})
    c = audit.run_audit(None, renamed, **kw)
    keep = lambda m: m[(m.attribute == "race") & ~m.group.isin(["Other", "Another group"])]  # noqa: E731
    pd.testing.assert_frame_equal(keep(a.metrics).reset_index(drop=True), keep(c.metrics).reset_index(drop=True))


def test_tiny_groups_get_no_certain_looking_intervals():
    """Regression (issue 8): groups of one or two rows got intervals such as [1.000, 1.000]."""
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"g": ["a"] * n + ["one"] + ["two"] * 2, "y": np.r_[rng.random(n) < 0.5, [1], [1, 1]].astype(int)})
    s = np.r_[rng.random(n), [0.9], [0.8, 0.95]]
    r = audit.run_audit(None, df, label="y", positive_label=1, protected=["g"], scores=s, seed=0,
                        check_determinism_rows=0, reference={"g": "a"})
    m = r.metrics
    tiny = m[m.group.isin(["one", "two"]) & m.value.notna() & ~m.metric.isin(
        ["positives", "negatives", "predicted_positives"])]
    assert len(tiny) > 10
    assert tiny.ci_low.isna().all() and tiny.ci_high.isna().all()
    assert tiny.reason.str.contains("interval not shown").all()
    d = r.disparities
    tiny_d = d[d.group.isin(["one", "two"]) & d.value.notna()]
    assert tiny_d.ci_low.isna().all() and tiny_d.reason.str.contains("interval not shown").all()
    # a degenerate interval of a bigger group (every resample gives 1.0) is withheld too, with the reason
    big = m[(m.group == "a") & (m.metric == "recall")]
    assert big.ci_low.notna().all()


def test_zero_width_interval_is_withheld_and_a_zero_standard_error_is_not_significant():
    """Every row of both groups has the same score and label: calibration gap replicates cannot move, so the
    Wald test has a standard error of 0; that is "not tested", never "significant"."""
    n = 200
    df = pd.DataFrame({"g": ["a"] * n + ["b"] * n, "y": [1] * (2 * n)})
    s = np.r_[np.full(n, 0.9), np.full(n, 0.6)]
    r = audit.run_audit(None, df, label="y", positive_label=1, protected=["g"], scores=s, seed=0,
                        check_determinism_rows=0, reference={"g": "a"}, min_negatives=0)
    d = r.disparities.set_index(["group", "metric"])
    row = d.loc[("b", "calibration_gap")]
    assert row["value"] == pytest.approx(-0.3)
    assert row["verdict"] == "not tested" and "standard error is 0" in row["reason"]
    assert np.isnan(row["ci_low"]) and "interval not shown" in row["reason"]
    m = r.metrics.set_index(["group", "metric"])
    assert np.isnan(m.loc[("b", "selection_rate"), "ci_low"])
    assert "every resample gives 1" in m.loc[("b", "selection_rate"), "reason"]


# ---------------------------------------------------------------- one sign convention, one meaning per name

def _worse_group_data(seed=0, n=4000):
    """Group B fares worse than A on every quantity: fewer favourable decisions and base rate, lower true and
    false positive rates of the favourable outcome, a higher bar (precision), lower accuracy and AUC, and
    under-stated chances."""
    rng = np.random.default_rng(seed)
    rows = []
    for g, base, noise, shift in (("A", 0.5, 0.8, 0.4), ("B", 0.35, 1.1, -1.6)):
        y = rng.random(n) < base
        s = expit(rng.normal(size=n) * noise + 2.0 * (y - 0.5) + shift)
        rows.append(pd.DataFrame({"g": g, "y": y.astype(int), "s": s}))
    return pd.concat(rows, ignore_index=True)


def test_every_difference_is_negative_when_the_group_fares_worse():
    df = _worse_group_data()
    r = audit.run_audit(None, df, label="y", positive_label=1, protected=["g"], scores="s", reference={"g": "A"},
                        seed=0, check_determinism_rows=0)
    d = r.disparities
    d = d[d.comparison == "vs_reference"].set_index("metric")
    for metric, row in d.iterrows():
        if metric.endswith("_ratio"):
            assert row["value"] < 1, metric
        else:
            assert row["value"] < 0, (metric, row["value"])
        assert row["ci_high"] < (1 if metric.endswith("_ratio") else 0), metric  # the whole interval says so


def test_the_same_audit_seen_from_the_other_label_gives_the_same_disparities():
    """Flipping the label and the scores and declaring the positive label unfavourable describes the same
    decisions: every disparity is unchanged, except that fpr/fnr (the metrics table's positive-label rates)
    trade names."""
    df = _worse_group_data(1)
    pred = (df["s"] >= 0.5).astype(int)
    a = audit.run_audit(None, df, label="y", positive_label=1, protected=["g"], scores="s", reference={"g": "A"},
                        seed=0, check_determinism_rows=0, predictions=None)
    flipped = df.assign(y=1 - df["y"], s=1 - df["s"])
    b = audit.run_audit(None, flipped, label="y", positive_label=1, favorable=False, protected=["g"],
                        predictions=1 - pred, scores="s", reference={"g": "A"}, seed=0, check_determinism_rows=0)
    da = a.disparities.set_index(["group", "comparison", "metric"])["value"]
    db = b.disparities.set_index(["group", "comparison", "metric"])["value"]
    swap = {"fpr_difference": "fnr_difference", "fnr_difference": "fpr_difference"}
    for (g, comp, metric), v in da.items():
        other = db[(g, comp, swap.get(metric, metric))]
        assert v == pytest.approx(other, abs=1e-12), (g, comp, metric)


def test_compas_fpr_and_fnr_disparities_mean_the_metrics_tables_rates(compas_scored):
    """Regression (issue 8): with favorable=False the disparity named fpr_difference was the metrics table's FNR
    difference (COMPAS Male vs Female: fnr gap -0.196 shown as fpr_difference -0.196)."""
    r = audit.run_audit(None, compas_scored, label="two_year_recid", positive_label=1, favorable=False,
                        protected=["race", "sex"], scores="score", seed=0, n_bootstrap=200)
    m = r.metrics.set_index(["attribute", "group", "metric"])["value"]
    d = r.disparities
    d = d[d.comparison == "vs_reference"].set_index(["attribute", "group", "metric"])
    refs = dict(r.references)
    for attr in ("race", "sex"):
        ref = refs[attr]
        for g in r.groups[r.groups.attribute == attr].group:
            if g == ref or d.loc[(attr, g, "fpr_difference"), "verdict"] == "undefined":
                continue
            fpr = m[(attr, g, "fpr")] - m[(attr, ref, "fpr")]
            fnr = m[(attr, g, "fnr")] - m[(attr, ref, "fnr")]
            # being wrongly flagged (FPR) harms the person: a higher FPR is negative
            assert d.loc[(attr, g, "fpr_difference"), "value"] == pytest.approx(-fpr, abs=1e-12)
            assert d.loc[(attr, g, "fnr_difference"), "value"] == pytest.approx(fnr, abs=1e-12)
    # ProPublica: African-American defendants are wrongly flagged far more often than Caucasian ones
    aa = d.loc[("race", "African-American", "fpr_difference")]
    assert refs["race"] == "Caucasian" or aa["value"] < 0
    if refs["race"] == "Caucasian":
        assert aa["value"] < -0.15 and aa["verdict"] == "significant"


def test_four_fifths_count_separates_verdicts(compas_scored):
    """Regression (issue 8): the summary's "N groups below the four-fifths rule" counted insufficient-data and
    not-significant groups without saying so."""
    r = audit.run_audit(None, compas_scored, label="two_year_recid", positive_label=1, favorable=False,
                        protected=["race", "sex"], scores="score", seed=0, n_bootstrap=200)
    d = r.disparities
    below = d[(d.comparison == "vs_reference") & (d.metric == "demographic_parity_ratio") & (d.flag != "")]
    verdicts = below.verdict.value_counts()
    assert len(verdicts) >= 2  # COMPAS has both established and small-group cases
    html = r.to_html()
    split = ", ".join(f"{k} {v}" for v, k in verdicts.sort_index(key=lambda s: s.map(
        {"significant": 0, "not significant": 1, "insufficient data": 2, "not tested": 3})).items())
    assert f"({split})" in html
    assert f"({split})" in r.summary()
    from audit.report.markdown import render_markdown

    assert f"({split})" in render_markdown(r)


def test_reports_say_which_numbers_are_adjusted(adult_scored):
    r = audit.run_audit(None, adult_scored, label="income", positive_label=">50K", protected=["sex"],
                        scores="score", seed=0, n_bootstrap=200)
    html = r.to_html()
    assert "CI (unadjusted)" in html and "p (holm-adjusted)" in html
    assert "negative = worse for the group" in html
    payload = json.loads(r.to_json())
    assert payload["format_version"] == 3


def test_format_1_results_are_read_in_todays_sign_convention(compas_scored):
    """A format-1 result (older signs) is converted on load: re-signed, renamed, equalized odds recomputed."""
    r = audit.run_audit(None, compas_scored, label="two_year_recid", positive_label=1, favorable=False,
                        protected=["sex"], scores="score", seed=0, n_bootstrap=200)
    now = json.loads(r.to_json())
    old = json.loads(r.to_json())
    old["format_version"] = 1
    cols = old["disparities_table"]["columns"]
    ix = {c: i for i, c in enumerate(cols)}
    rows = {(row[ix["group"]], row[ix["comparison"]], row[ix["metric"]]): row for row in now["disparities_table"]["rows"]}
    converted = []
    for row in old["disparities_table"]["rows"]:  # write what format 1 held: favourable-frame, group minus reference
        row = list(row)
        key = (row[ix["group"]], row[ix["comparison"]], row[ix["metric"]])
        if key[1] == "vs_reference" and key[2] == "fpr_difference":  # v1: favourable FNR difference = -today's fpr
            src = rows[(key[0], key[1], "fpr_difference")]
            row[ix["metric"]] = "fnr_difference"
            row[ix["value"]] = -src[ix["value"]]
            row[ix["ci_low"]], row[ix["ci_high"]] = -src[ix["ci_high"]], -src[ix["ci_low"]]
        elif key[1] == "vs_reference" and key[2] == "fnr_difference":  # v1: favourable FPR difference
            row[ix["metric"]] = "fpr_difference"
        elif key[1] == "vs_reference" and key[2] == "predictive_parity_difference":
            row[ix["value"]] = -row[ix["value"]]
            row[ix["ci_low"]], row[ix["ci_high"]] = -row[ix["ci_high"]], -row[ix["ci_low"]]
        elif key[1] == "max_gap" and key[2] in ("fpr_difference", "fnr_difference"):
            row[ix["metric"]] = "fnr_difference" if key[2] == "fpr_difference" else "fpr_difference"
        elif key[1] == "vs_reference" and key[2] == "equalized_odds_difference":
            row[ix["value"]] = abs(row[ix["value"]])
        converted.append(row)
    old["disparities_table"]["rows"] = converted
    back = audit.AuditResult.from_dict(old)
    want = r.disparities.set_index(["group", "comparison", "metric"])
    got = back.disparities.set_index(["group", "comparison", "metric"])
    for key in want.index:
        if key[2] == "equalized_odds_difference" and key[1] == "vs_reference":
            assert got.loc[key, "value"] == pytest.approx(want.loc[key, "value"], abs=1e-12)
            assert np.isnan(got.loc[key, "ci_low"])
            continue
        for c in ("value", "ci_low", "ci_high"):
            a, b = got.loc[key, c], want.loc[key, c]
            assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, abs=1e-12), (key, c)
    assert any("format-1" in w for w in back.warnings)
