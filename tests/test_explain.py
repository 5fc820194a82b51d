"""The explanation module on real data (Adult, COMPAS) and synthetic cases with a known answer."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import audit
from audit.datasets import ADULT_FEATURES, load_adult
from audit.exceptions import ConfigError
from audit.explain._shap import explain_rows
from audit.gate import Policy, evaluate
from audit.modules.explanations import TOTAL

pytest.importorskip("shap")
pytest.importorskip("lime")


@pytest.fixture(scope="module")
def adult_explained(adult_model, adult_test):
    return audit.run_audit(adult_model, adult_test, label="income", positive_label=">50K", protected=["sex", "race"],
                           explain={"rows": 600, "lime_cases": 2, "lime_seeds": 2, "proxy_rows": 3000},
                           n_bootstrap=300, strict=True)


def _hgb():
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    train = load_adult("train").sample(8000, random_state=0)
    pre = make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                       OneHotEncoder(handle_unknown="ignore", min_frequency=10, sparse_output=False)),
         make_column_selector(dtype_exclude="number")), remainder="passthrough")
    return make_pipeline(pre, HistGradientBoostingClassifier(max_iter=60, random_state=0)).fit(
        train[ADULT_FEATURES], train["income"])


def test_values_are_additive_and_in_original_columns(adult_model, adult_test):
    X = adult_test[ADULT_FEATURES].iloc[:300]
    bg = adult_test[ADULT_FEATURES].iloc[300:400]
    for model in (adult_model, _hgb()):
        res = explain_rows(model, X, bg, ">50K", None, "probability", 0)
        assert res.mapped and set(res.features) <= set(ADULT_FEATURES)
        assert res.space == "log-odds margin"
        margin = model.decision_function(X)
        assert np.abs(res.base + res.values.sum(1) - margin).max() < 1e-6  # the model's own output, exactly
        neg = explain_rows(model, X, bg, "<=50K", None, "probability", 0)  # the other class: the negated margin
        assert np.abs(neg.base + neg.values.sum(1) + margin).max() < 1e-6


def test_one_hot_columns_are_summed_before_magnitudes(adult_model, adult_test):
    """Summing mean |SHAP| over dummy columns overstates importance: values are summed per row first."""
    X = adult_test[ADULT_FEATURES].iloc[:300]
    res = explain_rows(adult_model, X, adult_test[ADULT_FEATURES].iloc[300:400], ">50K", None, "probability", 0)
    pre, est = adult_model[:-1], adult_model[-1]
    Xt = pre.transform(X)
    Xt = Xt.toarray() if hasattr(Xt, "toarray") else Xt
    bg = pre.transform(adult_test[ADULT_FEATURES].iloc[300:400])
    bg = bg.toarray() if hasattr(bg, "toarray") else bg
    dummy = (Xt - bg.mean(0)) * est.coef_[0]
    names = list(pre.get_feature_names_out())
    occ = [j for j, n in enumerate(names) if n.split("__", 1)[-1].startswith("occupation_")]
    j = res.features.index("occupation")
    assert np.allclose(res.values[:, j], dummy[:, occ].sum(1), atol=1e-10)
    assert np.abs(res.values[:, j]).mean() < np.abs(dummy[:, occ]).mean(0).sum()


def test_adult_tables_and_gap_attribution_add_up(adult_explained):
    r = adult_explained
    imp = r.shap_importance
    assert list(imp["rank"]) == list(range(1, len(imp) + 1)) and set(imp.feature) == set(ADULT_FEATURES)
    shown = imp[imp.ci_low.notna()]
    assert (shown.ci_low <= shown.mean_abs_shap + 1e-12).all() and (shown.mean_abs_shap <= shown.ci_high + 1e-12).all()
    # the protected attributes are constant within the bootstrap's strata (every combination of groups): their
    # intervals cannot move, so they are withheld rather than shown as [x, x]
    assert set(imp[imp.ci_low.isna()].feature) == {"sex", "race"}
    g = r.gap_attribution
    for (attr, group, pop), rows in g.groupby(["attribute", "group", "population"]):
        total = rows[rows.feature == TOTAL].contribution.iloc[0]
        assert rows[rows.feature != TOTAL].contribution.sum() == pytest.approx(total, abs=1e-6)
    by = r.shap_by_group
    assert {"sex", "race", "sex & race", "(overall)"} <= set(by.attribute)
    # the gap in mean output matches the model's own mean log-odds by group in the explained rows (sign: favourable)
    fem = g[(g.attribute == "sex") & (g.group == "Female") & (g.population == "all") & (g.feature == TOTAL)]
    assert fem.contribution.iloc[0] < 0 and fem.ci_high.iloc[0] < 0
    assert set(g.population) == {"all", "favourable outcome", "unfavourable outcome"}
    lime = r.lime_cases
    assert lime.case.nunique() == 2 and lime.stability.between(0, 1).all()
    assert not lime.condition.str.contains(r"^\d+(\.\d+)? <", regex=True).any()  # no coded categories
    assert lime[lime.feature == "occupation"].condition.str.contains("=").all() or "occupation" not in set(lime.feature)
    auc = r.proxy_auc.set_index("attribute")
    assert auc.loc["sex", "auc"] > 0.8  # marital status and relationship give sex away
    assert auc.loc["sex", "ci_low"] <= auc.loc["sex", "auc"] <= auc.loc["sex", "ci_high"]


def test_section_round_trips_and_is_rendered(adult_explained, tmp_path):
    r = adult_explained
    path = tmp_path / "r.json"
    r.to_json(path)
    back = audit.AuditResult.from_json(path)
    assert back == r
    pd.testing.assert_frame_equal(back.gap_attribution, r.gap_attribution)
    html = r.to_html()
    assert "5. Explanations and proxies" in html and "What drives the gap: sex = Female" in html
    assert "Top driver of the largest significant gap" in html
    assert "Explanations: most important features" in r.summary()
    from audit.report.markdown import render_markdown

    assert "### Explanations" in render_markdown(r)


def test_same_seed_same_explanations_in_another_process(adult_explained, tmp_path):
    code = ("import audit, json, sys\n"
            "from audit.datasets import adult_model, load_adult\n"
            "r = audit.run_audit(adult_model(), load_adult('test'), label='income', positive_label='>50K', "
            "protected=['sex', 'race'], explain={'rows': 600, 'lime_cases': 2, 'lime_seeds': 2, 'proxy_rows': 3000}, "
            "n_bootstrap=300, strict=True)\n"
            "d = r.section('explanations').to_dict(); d['info'].pop('timings')\n"
            "sys.stdout.write(json.dumps(d, sort_keys=True))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    mine = adult_explained.section("explanations").to_dict()
    mine["info"].pop("timings")
    assert json.loads(out) == json.loads(json.dumps(mine, sort_keys=True))


def _synthetic(n=4000, seed=0):
    """Group B's favourable outcome is lower only through `driver`; `copy` is a near-copy of the group; `noise`
    is independent of it."""
    rng = np.random.default_rng(seed)
    g = rng.choice(["A", "B"], n)
    driver = rng.normal(size=n) - 1.0 * (g == "B")
    copy = np.where(rng.random(n) < 0.95, g, np.where(g == "A", "B", "A"))
    noise = rng.normal(size=n)
    other = rng.normal(size=n)
    logit = 1.5 * driver + 0.5 * other
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"driver": driver, "copy": copy, "noise": noise, "other": other, "g": g, "y": y})


def test_the_feature_that_drives_a_gap_gets_it(tmp_path):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    df = _synthetic()
    feats = ["driver", "copy", "noise", "other"]
    pre = make_column_transformer((OneHotEncoder(), ["copy"]), remainder="passthrough")
    model = make_pipeline(pre, LogisticRegression()).fit(df[feats], df["y"])
    r = audit.run_audit(model, df, label="y", positive_label=1, protected=["g"], features=feats, reference={"g": "A"},
                        explain={"rows": 1000, "lime_cases": 0}, n_bootstrap=300, strict=True)
    g = r.gap_attribution
    rows = g[(g.group == "B") & (g.population == "all") & (g.feature != TOTAL)]
    top = rows.iloc[0]
    assert top.feature == "driver" and top.contribution < 0 and top.ci_high < 0
    noise = rows[rows.feature == "noise"].iloc[0]
    assert noise.ci_low <= 0 <= noise.ci_high
    p = r.proxies.set_index("feature")
    assert p.loc["copy", "association"] > 0.8 and p.loc["copy", "flag"] != ""
    assert p.loc["noise", "association"] < 0.1 and p.loc["noise", "flag"] == ""
    assert r.proxy_auc.auc.iloc[0] > 0.9
    # a policy can gate on the proxy scan
    pol = Policy.from_toml('[[rules]]\nmetric = "proxy_auc"\nmax = 0.75\nmode = "point"\n')
    res = evaluate(r, pol)
    assert res.rules[0].verdict == "fail" and not res.passed
    plain = audit.run_audit(model, df, label="y", positive_label=1, protected=["g"], features=feats, n_bootstrap=0)
    res = evaluate(plain, pol)
    assert not res.passed and "explain=True" in res.rules[0].checks[0].message


def test_unfavourable_positive_label_orients_gaps_like_the_disparities(compas_scored):
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    feats = ["age", "priors_count", "c_charge_degree", "juv_fel_count"]
    df = compas_scored
    feats = [f for f in feats if f in df.columns]
    pre = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_exclude="number")),
                                  remainder="passthrough")
    model = make_pipeline(pre, RandomForestClassifier(n_estimators=40, max_depth=6, random_state=0)).fit(
        df[feats], df["two_year_recid"])
    r = audit.run_audit(model, df, label="two_year_recid", positive_label=1, favorable=False, protected=["race"],
                        features=feats, reference={"race": "Caucasian"},
                        explain={"rows": 800, "lime_cases": 1, "lime_seeds": 2, "proxy": False}, n_bootstrap=200,
                        strict=True)
    assert r.section("explanations").get("output_space") == "probability"
    g = r.gap_attribution
    aa = g[(g.group == "African-American") & (g.population == "all") & (g.feature == TOTAL)].contribution.iloc[0]
    dp = r.disparities.set_index(["group", "metric", "comparison"]).loc[
        ("African-American", "demographic_parity_difference", "vs_reference"), "value"]
    assert np.sign(aa) == np.sign(dp) == -1  # flagged more often: lower favourable output, like the disparity


def test_lightgbm_with_pandas_categoricals_and_models_without_predict_proba():
    lgb = pytest.importorskip("lightgbm")
    from sklearn.svm import LinearSVC

    df = _synthetic(3000)
    df["copy"] = df["copy"].astype("category")
    feats = ["driver", "copy", "noise", "other"]
    model = lgb.LGBMClassifier(n_estimators=40, verbose=-1, random_state=0).fit(df[feats], df["y"])
    r = audit.run_audit(model, df, label="y", positive_label=1, protected=["g"], features=feats,
                        explain={"rows": 500, "lime_cases": 1, "lime_seeds": 2, "proxy": False}, n_bootstrap=100,
                        strict=True)
    sec = r.section("explanations")
    assert "TreeSHAP" in sec.get("explainer") and set(r.shap_importance.feature) == set(feats)
    assert r.lime_cases.condition.str.contains("copy=").any() or "copy" not in set(r.lime_cases.feature)
    svc = LinearSVC().fit(df[["driver", "noise", "other"]], df["y"])
    r = audit.run_audit(svc, df, label="y", positive_label=1, protected=["g"], features=["driver", "noise", "other"],
                        explain={"rows": 300, "lime_cases": 1, "lime_seeds": 2, "proxy": False}, n_bootstrap=100,
                        strict=True)
    assert r.section("explanations").get("output_space") == "decision score"
    assert r.shap_importance.feature.iloc[0] == "driver"


@pytest.mark.slow
def test_a_plain_function_gets_the_model_agnostic_explainer():
    df = _synthetic(1500)

    def model(X):
        return 1 / (1 + np.exp(-(1.5 * X["driver"] + 0.5 * X["other"] + 0.3 * (X["copy"] == "B"))))

    r = audit.run_audit(model, df, label="y", positive_label=1, protected=["g"], features=["driver", "copy", "other"],
                        explain={"agnostic_rows": 40, "background": 30, "lime_cases": 1, "lime_seeds": 2,
                                 "proxy": False}, n_bootstrap=100, strict=True)
    sec = r.section("explanations")
    assert "permutation" in sec.get("explainer")
    assert r.shap_importance.feature.iloc[0] == "driver"
    g = r.gap_attribution
    for _, rows in g.groupby(["group", "population"]):
        total = rows[rows.feature == TOTAL].contribution.iloc[0]
        assert rows[rows.feature != TOTAL].contribution.sum() == pytest.approx(total, abs=1e-6)


def test_failures_are_recorded_and_strict_reraises():
    df = _synthetic(800)

    class Fragile:
        classes_ = np.array([0, 1])
        calls = 0

        def predict_proba(self, X):
            Fragile.calls += 1
            if Fragile.calls > 2:  # the audit's own predictions work; the explainers' calls fail
                raise RuntimeError("explainer calls are not supported")
            p = 1 / (1 + np.exp(-X["driver"].to_numpy()))
            return np.c_[1 - p, p]

    r = audit.run_audit(Fragile(), df, label="y", positive_label=1, protected=["g"], features=["driver"],
                        explain={"agnostic_rows": 10, "background": 10, "proxy": False}, n_bootstrap=0)
    # each part fails on its own, recorded in the section and as a warning; the audit completes
    sec = r.section("explanations")
    assert not r.errors and len(r.metrics) > 0
    assert [f["part"] for f in sec.get("failed_parts")] == ["SHAP importance", "LIME cases"]
    assert all("explainer calls are not supported" in f["error"] for f in sec.get("failed_parts"))
    assert sum("could not be computed" in w for w in r.warnings) == 2
    Fragile.calls = 0
    with pytest.raises(Exception):
        audit.run_audit(Fragile(), df, label="y", positive_label=1, protected=["g"], features=["driver"],
                        explain={"agnostic_rows": 10, "background": 10, "proxy": False}, n_bootstrap=0, strict=True)


@pytest.mark.parametrize("value, match", [({"rows": 1}, "rows"), ({"nope": 1}, "unknown explain option"),
                                          ("yes", "explain='yes' is invalid"), ({"cases": [-1]}, "cases")])
def test_bad_explain_options(value, match):
    df = _synthetic(200)
    with pytest.raises(ConfigError, match=match):
        audit.run_audit(None, df, label="y", positive_label=1, protected=["g"], predictions="y", explain=value)


def test_cli_explain(tmp_path):
    df = _synthetic(1500)
    from sklearn.linear_model import LogisticRegression

    feats = ["driver", "noise", "other"]
    import joblib

    joblib.dump(LogisticRegression().fit(df[feats], df["y"]), tmp_path / "m.joblib")
    df.to_csv(tmp_path / "d.csv", index=False)
    out = subprocess.run([sys.executable, "-m", "audit", "run", "--data", "d.csv", "--label", "y", "--protected", "g",
                          "--model", "m.joblib", "--features", "driver,noise,other", "--explain", "--explain-rows",
                          "300", "--lime-cases", "1", "--n-bootstrap", "100", "--json", "r.json"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    r = audit.AuditResult.from_json(tmp_path / "r.json")
    assert len(r.shap_importance) == 3 and r.lime_cases.case.nunique() == 1


def test_xgboost_and_free_text_columns():
    xgb = pytest.importorskip("xgboost")
    df = _synthetic(2000)
    rng = np.random.default_rng(1)
    df["comment"] = [f"free text {i} {rng.integers(1e9)}" for i in range(len(df))]  # a column of unique strings
    model = xgb.XGBClassifier(n_estimators=30, max_depth=3).fit(df[["driver", "noise", "other"]], df["y"])
    r = audit.run_audit(model, df, label="y", positive_label=1, protected=["g"], features=["driver", "noise", "other"],
                        explain={"rows": 400, "lime_cases": 1, "lime_seeds": 2, "proxy": False}, n_bootstrap=100,
                        strict=True)
    assert "TreeSHAP" in r.section("explanations").get("explainer")
    assert r.section("explanations").get("output_space") == "log-odds margin"
    assert r.shap_importance.feature.iloc[0] == "driver"
    # the proxy scan leaves free text out of its classifier and says so, instead of failing
    r = audit.run_audit(None, df, label="y", positive_label=1, protected=["g"], predictions="y",
                        features=["driver", "comment"], explain={"lime_cases": 0}, n_bootstrap=0, strict=True)
    auc = r.proxy_auc.iloc[0]
    assert "free-text column(s)" in auc.reason and auc.auc is not None
    p = r.proxies.set_index("feature")
    assert p.loc["comment", "measure"].startswith("not measured: free text")
