"""Reweighing and the paired before/after re-audit, on real data."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import audit
from audit.datasets import load_adult, load_compas, load_german
from audit.exceptions import ConfigError


def _aif360_weights(df: pd.DataFrame, label: str, positive, attr: str, privileged) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from aif360.algorithms.preprocessing import Reweighing
        from aif360.datasets import BinaryLabelDataset

    frame = pd.DataFrame({"y": (df[label] == positive).astype(float).to_numpy(),
                          "a": (df[attr].astype(str) == privileged).astype(float).to_numpy()})
    ds = BinaryLabelDataset(df=frame, label_names=["y"], protected_attribute_names=["a"], favorable_label=1.0,
                            unfavorable_label=0.0)
    rw = Reweighing(unprivileged_groups=[{"a": 0.0}], privileged_groups=[{"a": 1.0}])
    return rw.fit_transform(ds).instance_weights


@pytest.mark.parametrize("name, label, positive, attr, privileged, keep", [
    ("adult", "income", ">50K", "sex", "Male", None),
    ("compas", "two_year_recid", 1, "race", "Caucasian", ["Caucasian", "African-American"]),
    ("german", "credit", "good", "sex", "male", None),
    ("german", "credit", "good", "age_group", ">=25", None),
])
def test_weights_equal_aif360(name, label, positive, attr, privileged, keep):
    df = {"adult": lambda: load_adult("train"), "compas": load_compas, "german": load_german}[name]()
    if keep:  # aif360 compares two groups; a binary slice of a multi-valued attribute
        df = df[df[attr].astype(str).isin(keep)].reset_index(drop=True)
    ours = audit.reweighing_weights(df, label=label, positive_label=positive, protected=[attr])
    assert list(ours.index) == list(df.index)
    np.testing.assert_allclose(ours.to_numpy(), _aif360_weights(df, label, positive, attr, privileged), rtol=0,
                               atol=1e-12)


@pytest.mark.parametrize("protected", [["race"], ["sex", "race"]])
def test_weighted_base_rates_are_equal_for_several_groups_and_intersections(protected):
    df = load_adult("train")
    w = audit.reweighing_weights(df, label="income", positive_label=">50K", protected=protected)
    y = (df["income"] == ">50K").to_numpy()
    overall = y.mean()
    keys = df[protected].astype(str).agg(" & ".join, axis=1)
    rates = pd.Series(w.to_numpy() * y).groupby(keys.to_numpy()).sum() / w.groupby(keys.to_numpy()).sum()
    assert keys.nunique() > 2 and np.abs(rates.to_numpy() - overall).max() < 1e-12
    assert np.isfinite(w).all() and (w > 0).all()


def test_an_empty_cell_is_named_and_never_gives_infinite_weights():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"g": ["a"] * 200 + ["b"] * 50, "y": np.r_[rng.integers(0, 2, 200), np.ones(50, int)],
                       "x": rng.normal(size=250)})
    from audit.mitigation import weights_for

    res = weights_for(df, df["y"].to_numpy(), ["g"], ("1", "0"))
    assert np.isfinite(res.weights).all()
    assert any("'b' has no rows with label '0'" in w for w in res.warnings)


@pytest.fixture(scope="module")
def adult_mitigated():
    from audit.datasets import adult_model

    train, test = load_adult("train"), load_adult("test")
    model = adult_model(train)
    before = (pickle.dumps(model), model.predict_proba(test.head(500)))
    r = audit.run_audit(model, test, label="income", positive_label=">50K", protected=["sex", "race"],
                        train_data=train, mitigate={"attributes": ["sex"]}, n_bootstrap=500, strict=True)
    return r, model, before, test


def test_reweighing_by_sex_reduces_the_parity_gap_with_a_paired_interval(adult_mitigated):
    r, model, before, test = adult_mitigated
    sec = r.section("mitigation")
    assert sec.get("refit") is True and sec.get("attributes") == ("sex",)
    c = r.mitigation.set_index(["attribute", "group", "metric"])
    dp = c.loc[("sex", "Female", "demographic_parity_difference")]
    assert dp.before < 0 and abs(dp.after) < abs(dp.before)
    assert dp.change_low > 0 and dp.verdict == "significant"  # the change's interval excludes 0
    # paired: the change's interval is narrower than two independent intervals would allow
    width = lambda r, k: r[f"{k}_high"] - r[f"{k}_low"]  # noqa: E731
    assert width(dp, "change") < np.hypot(width(dp, "before"), width(dp, "after"))
    acc = c.loc[("(overall)", "all", "accuracy")]
    assert acc.before == pytest.approx(r.metrics.set_index(["attribute", "group", "metric"]).loc[
        ("(overall)", "all", "accuracy"), "value"], abs=1e-12)
    from audit.report.findings import mitigation_finding

    finding = mitigation_finding(sec, r)
    assert "Reweighing by sex moves the demographic parity difference of sex: Female vs Male" in finding
    assert "accuracy cost" in finding and finding in r.summary()
    w = sec.frame("weights")
    assert np.allclose(w.base_rate_after, w.base_rate_after.iloc[0], atol=1e-12)
    html = r.to_html()
    assert "6. Mitigation" in html and "Before and after reweighing (paired)" in html
    assert audit.AuditResult.from_json(r.to_json()) == r


def test_the_users_model_is_untouched_and_the_seed_reproduces(adult_mitigated):
    r, model, before, test = adult_mitigated
    assert pickle.dumps(model) == before[0]
    np.testing.assert_array_equal(model.predict_proba(test.head(500)), before[1])
    again = audit.run_audit(model, test, label="income", positive_label=">50K", protected=["sex", "race"],
                            train_data=load_adult("train"), mitigate={"attributes": ["sex"]}, n_bootstrap=500)
    drop = {"time", "refit_seconds", "remedies_seconds"}
    a, b = r.section("mitigation"), again.section("mitigation")
    assert a.tables == b.tables and {k: v for k, v in a.info if k not in drop} == \
        {k: v for k, v in b.info if k not in drop}


def test_when_no_refit_is_possible_it_says_so_and_still_reports_weights():
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"g": rng.choice(["a", "b"], 600), "x": rng.normal(size=600)})
    df["y"] = (rng.random(600) < 0.3 + 0.2 * (df["g"] == "a")).astype(int)
    knn = KNeighborsClassifier().fit(df[["x"]], df["y"])
    cases = [(knn, "does not accept sample_weight"), (lambda X: (X["x"] > 0).astype(int), "not a scikit-learn")]
    for model, why in cases:
        r = audit.run_audit(model, df, label="y", positive_label=1, protected=["g"], features=["x"], train_data=df,
                            mitigate=True, n_bootstrap=0, strict=True)
        sec = r.section("mitigation")
        assert sec.get("refit") is False and why in sec.get("why")
        assert len(sec.frame("weights")) == 4 and len(r.mitigation) == 0
    # no training data: no weights and no refit, said in the result; remedies needing no retraining still run
    r = audit.run_audit(knn, df, label="y", positive_label=1, protected=["g"], features=["x"], mitigate=True,
                        n_bootstrap=0)
    sec = r.section("mitigation")
    assert sec.get("refit") is False and "no training data" in sec.get("why") and sec.table("weights") is None
    assert any("reweighing did not run" in w for w in r.warnings)  # said as a warning of the result
    with pytest.raises(ConfigError, match="mitigate needs training data"):  # strict: an error
        audit.run_audit(knn, df, label="y", positive_label=1, protected=["g"], features=["x"], mitigate=True,
                        n_bootstrap=0, strict=True)
    with pytest.raises(ConfigError, match="mitigate attributes"):
        audit.run_audit(knn, df, label="y", positive_label=1, protected=["g"], features=["x"], train_data=df,
                        mitigate={"attributes": ["nope"]})


def test_cli_mitigate(tmp_path):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"g": rng.choice(["a", "b"], 2000), "x": rng.normal(size=2000)})
    df["x"] += 0.8 * (df["g"] == "a")
    df["y"] = (df["x"] + rng.normal(size=2000) > 0.5).astype(int)
    import joblib

    joblib.dump(LogisticRegression().fit(df[["x"]], df["y"]), tmp_path / "m.joblib")
    df.to_csv(tmp_path / "d.csv", index=False)
    out = subprocess.run([sys.executable, "-m", "audit", "run", "--data", "d.csv", "--train-data", "d.csv", "--label",
                          "y", "--protected", "g", "--model", "m.joblib", "--features", "x", "--mitigate",
                          "--n-bootstrap", "200", "--json", "r.json", "--markdown", "-"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "### Mitigation" in out.stdout
    r = audit.AuditResult.from_json(tmp_path / "r.json")
    assert r.section("mitigation").get("refit") is True and len(r.mitigation) > 0


def test_what_if_remedies_are_graded_on_rows_they_were_not_fitted_on(adult_mitigated, monkeypatch):
    r, model, before, test = adult_mitigated
    w = r.section("mitigation").frame("what_if")
    assert list(dict.fromkeys(w.remedy)) == ["reweighing (refit)", "group thresholds: demographic parity",
                                             "group thresholds: equalized odds"]
    sel = w.set_index(["remedy", "attribute", "group", "metric"])
    dp = sel.loc[("group thresholds: demographic parity", "sex", "Female", "demographic_parity_difference")]
    assert abs(dp.after) < 0.03 and dp.change_low > 0  # parity restored, the change is real
    eo = sel.loc[("group thresholds: equalized odds", "sex", "Female", "equal_opportunity_difference")]
    assert abs(eo.after) < abs(eo.before)
    acc = sel.loc[("group thresholds: demographic parity", "(overall)", "all", "accuracy")]
    assert acc.change < 0  # parity has an accuracy cost, shown with its interval
    assert "What if: remedies for sex = Female" in r.to_html()

    # cross-fitting: every row is decided by thresholds fitted on the other half
    import fairlearn.postprocessing as fp

    from audit.modules import mitigate

    seen = []

    class Recording(fp.ThresholdOptimizer):
        def fit(self, X, y, **kw):
            seen.append(("fit", frozenset(np.asarray(X)[:, 0].tolist())))
            return super().fit(X, y, **kw)

        def predict(self, X, **kw):
            seen.append(("predict", frozenset(np.asarray(X)[:, 0].tolist())))
            return super().predict(X, **kw)

    monkeypatch.setattr(fp, "ThresholdOptimizer", Recording)
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"g": rng.choice(["a", "b"], 1500), "s": rng.random(1500)})
    df["y"] = (rng.random(1500) < df["s"]).astype(int)
    res = audit.run_audit(None, df, label="y", positive_label=1, protected=["g"], scores="s", train_data=df,
                          mitigate=True, n_bootstrap=100, strict=True)
    assert res.section("mitigation").get("refit") is False  # no model to refit; the thresholds still run
    assert len(res.section("mitigation").frame("what_if")) > 0
    fits = [s for k, s in seen if k == "fit"]
    preds = [s for k, s in seen if k == "predict"]
    # two constraints x 3 seeded splits (the default) x two halves
    assert len(fits) == len(preds) == 12
    assert len(set(fits)) == 6  # each split draws its own halves (shared by the two constraints)
    for f, p in zip(fits, preds):
        assert not (f & p)  # graded rows never among the fitted ones
    del mitigate


def test_the_finding_names_the_attribute_skips_tiny_groups_and_lists_side_effects():
    """HMDA-like data (yes/no groups, a tiny group with a huge gap) and the Adult demo (reweighing by sex turns the
    equal-opportunity gap for women from negative to positive): the headline names the attribute and a group with
    sufficient data, and the side effects list the metric that changed sign."""
    from sklearn.linear_model import LogisticRegression

    from audit.datasets import ADULT_FEATURES, adult_model, load_adult

    rng = np.random.default_rng(7)
    n = 6000
    minority = rng.choice(["yes", "no"], n, p=[0.3, 0.7])
    race = np.where(rng.random(n) < 0.004, "Native", np.where(minority == "yes", "black", "white"))
    x = rng.normal(size=n) - 0.6 * (minority == "yes") - 3.0 * (race == "Native")
    deny_free = (rng.random(n) < 1 / (1 + np.exp(-(x + 0.3)))).astype(int)  # 1: the mortgage is approved
    df = pd.DataFrame({"minority": minority, "race": race, "x": x, "m": (minority == "yes").astype(float),
                       "approved": deny_free})
    train, test = df.iloc[:3000], df.iloc[3000:]
    model = LogisticRegression().fit(train[["x", "m"]], train["approved"])
    r = audit.run_audit(model, test, label="approved", positive_label=1, protected=["minority", "race"],
                        features=["x", "m"], train_data=train, mitigate=True, n_bootstrap=200, min_group_size=30)
    finding = r.mitigation_finding
    assert "demographic parity difference of minority: yes vs no" in finding or \
        "demographic parity difference of race: black vs white" in finding, finding
    assert "Native" not in finding.split(".")[0]  # the tiny group (about 12 rows) is not the headline

    adult_train, adult_test = load_adult("train"), load_adult("test")
    r = audit.run_audit(adult_model(), adult_test, label="income", positive_label=">50K", protected=["sex"],
                        features=ADULT_FEATURES, train_data=adult_train, mitigate=True, n_bootstrap=200)
    finding = r.mitigation_finding
    assert finding.startswith("Reweighing by sex moves the demographic parity difference of sex: Female vs Male")
    ch = r.mitigation.query("metric == 'equal_opportunity_difference' and group == 'Female'").iloc[0]
    assert ch.before < 0 < ch.after and ch.verdict == "significant"
    assert "equal opportunity difference, sex: Female vs Male" in finding and "(changes sign)" in finding
