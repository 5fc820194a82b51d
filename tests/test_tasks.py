"""Issue 20 end to end: ``run_audit(task=...)`` on regression and multiclass models. Group metrics equal
scikit-learn's and Fairlearn's on real data (Adult), the favourable-class rows equal a binary audit of that view,
the task is detected or asked for, bad input is refused naming the column or argument, every output (JSON, HTML,
Markdown, JUnit, text, gate) carries the task, and every value lies in its catalogue range."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import audit
from audit.exceptions import ConfigError, InputError, ModelError
from audit.gate.policy import Policy
from audit.metrics import BY_NAME
from audit.report.junit import render_junit
from audit.report.markdown import render_markdown

FEATURES = ["age", "education_num", "capital_gain", "capital_loss"]


@pytest.fixture(scope="module")
def adult():
    from audit.datasets import load_adult

    train, test = load_adult("train"), load_adult("test")
    return train.drop(columns="split").reset_index(drop=True), test.drop(columns="split").reset_index(drop=True)


@pytest.fixture(scope="module")
def regression(adult):
    from sklearn.ensemble import HistGradientBoostingRegressor

    train, test = adult
    model = HistGradientBoostingRegressor(max_iter=40, random_state=0).fit(train[FEATURES], train["hours_per_week"])
    result = audit.run_audit(model, test, label="hours_per_week", protected=["sex", "race"], features=FEATURES,
                             n_bootstrap=200)
    return model, test, result


@pytest.fixture(scope="module")
def multiclass(adult):
    from sklearn.ensemble import HistGradientBoostingClassifier

    train, test = adult
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(train[FEATURES], train["relationship"])
    result = audit.run_audit(model, test, label="relationship", protected=["sex", "race"], features=FEATURES,
                             favorable_classes=["Husband", "Wife"], n_bootstrap=200)
    return model, test, result


def _in_range(result) -> None:
    for table in (result.metrics_table, result.disparities_table):
        for r in table.records():
            m = BY_NAME.get(r["metric"])
            if m is None or r["value"] is None:
                continue
            for key in ("value", "ci_low", "ci_high"):
                if r[key] is not None and r["comparison" if "comparison" in r else "metric"] != "max_gap":
                    assert m.contains(r[key]) or (m.name.endswith("_ratio") and r[key] >= 0), (r, key)
            if r.get("p_value") is not None:
                assert 0 <= r["p_value"] <= 1


def test_regression_metrics_equal_scikit_learn_and_fairlearn(regression):
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    model, test, result = regression
    assert result.task == "regression" and result.target_info("favorable") == "higher"
    y, pred = test["hours_per_week"].to_numpy(float), model.predict(test[FEATURES])
    cut = result.target_info("scoring_cut")
    assert cut == pytest.approx(float(np.median(pred)), abs=0)
    fns = {"mae": mean_absolute_error, "rmse": lambda a, b: math.sqrt(mean_squared_error(a, b)), "r2": r2_score,
           "mean_prediction": lambda a, b: float(np.mean(b)), "mean_label": lambda a, b: float(np.mean(a)),
           "mean_residual": lambda a, b: float(np.mean(np.asarray(b) - np.asarray(a))),
           "scoring_rate": lambda a, b: float(np.mean(np.asarray(b) > cut))}
    frame = MetricFrame(metrics=fns, y_true=y, y_pred=pred, sensitive_features=test["race"])
    m = result.metrics
    checked = 0
    for group, row in frame.by_group.iterrows():
        for name in fns:
            mine = m.query("attribute == 'race' and group == @group and metric == @name")["value"].iloc[0]
            assert mine == pytest.approx(row[name], abs=1e-9, rel=1e-12)
            mask = (test["race"] == group).to_numpy()
            if name in ("mae", "r2"):  # and scikit-learn's own function on the group's rows
                assert mine == pytest.approx(fns[name](y[mask], pred[mask]), abs=1e-9)
            checked += 1
    assert checked == 5 * 7
    overall = m.query("attribute == '(overall)'").set_index("metric")["value"]
    assert overall["rmse"] == pytest.approx(math.sqrt(mean_squared_error(y, pred)), abs=1e-9)
    _in_range(result)


def test_regression_disparities_are_signed_and_tested(regression, adult):
    from scipy.stats import ks_2samp

    model, test, result = regression
    d = result.disparities.query("attribute == 'sex' and comparison == 'vs_reference'").set_index("metric")
    groups = result.groups.query("attribute == 'sex'").set_index("group")
    ref = groups.index[groups["is_reference"]][0]
    other = [g for g in groups.index if g != ref][0]
    assert groups.loc[ref, "mean_prediction"] > groups.loc[other, "mean_prediction"]  # most favourable mean
    gap = groups.loc[other, "mean_prediction"] - groups.loc[ref, "mean_prediction"]
    assert d.loc["mean_prediction_difference", "value"] == pytest.approx(gap, abs=1e-12) and gap < 0
    low, high = d.loc["mean_prediction_difference", ["ci_low", "ci_high"]]
    assert low < gap < high
    ratio = groups.loc[other, "scoring_rate"] / groups.loc[ref, "scoring_rate"]
    assert d.loc["scoring_rate_ratio", "value"] == pytest.approx(ratio, abs=1e-12)
    pred = model.predict(test[FEATURES])
    ks = ks_2samp(pred[(test["sex"] == other).to_numpy()], pred[(test["sex"] == ref).to_numpy()])
    assert d.loc["ks_distance", "value"] == pytest.approx(ks.statistic, abs=1e-12)
    assert d.loc["ks_distance", "p_value_raw"] == pytest.approx(ks.pvalue, rel=1e-9, abs=1e-300)
    assert d.loc["wasserstein_distance", "p_value"] == d.loc["ks_distance", "p_value"]  # one comparison
    assert d.loc["mean_prediction_ratio", "p_value"] == d.loc["mean_prediction_difference", "p_value"]
    assert set(d["verdict"]) <= {"significant", "not significant"}
    # favorable="lower" (a price): the same rows, signed the other way, and another reference group
    lower = audit.run_audit(model, test, label="hours_per_week", protected=["sex"], features=FEATURES,
                            favorable="lower", n_bootstrap=0)
    g2 = lower.groups.query("attribute == 'sex'").set_index("group")
    assert g2.index[g2["is_reference"]][0] == other
    d2 = lower.disparities.query("comparison == 'vs_reference'").set_index("metric")
    assert d2.loc["mean_prediction_difference", "value"] == pytest.approx(gap, abs=1e-12)  # ref - group, swapped
    assert d2.loc["mae_difference", "value"] == pytest.approx(
        g2.loc[other, "n"] * 0 + (lower.metrics.query("group == @other and metric == 'mae'")["value"].iloc[0]
                                  - lower.metrics.query("group == @ref and metric == 'mae'")["value"].iloc[0]),
        abs=1e-12)


def test_multiclass_rates_equal_pandas_and_fairlearn(multiclass):
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import precision_score, recall_score

    model, test, result = multiclass
    assert result.task == "multiclass"
    assert list(result.target_info("classes")) == [str(c) for c in model.classes_]
    pred = model.classes_[np.argmax(model.predict_proba(test[FEATURES]), axis=1)]
    m = result.metrics
    for cls in model.classes_:
        y1, p1 = (test["relationship"] == cls).to_numpy(int), (pred == cls).astype(int)
        frame = MetricFrame(metrics={"recall": lambda a, b: recall_score(a, b, zero_division=np.nan),
                                     "precision": lambda a, b: precision_score(a, b, zero_division=np.nan),
                                     "selection_rate": lambda a, b: float(np.mean(b)),
                                     "base_rate": lambda a, b: float(np.mean(a))},
                            y_true=y1, y_pred=p1, sensitive_features=test["race"])
        for group, row in frame.by_group.iterrows():
            for name in ("recall", "precision", "selection_rate", "base_rate"):
                mine = m.query("attribute == 'race' and group == @group and `class` == @cls and metric == @name")
                assert len(mine) == 1
                value = mine["value"].iloc[0]
                if np.isnan(row[name]):
                    assert np.isnan(value) and mine["status"].iloc[0] == "undefined"
                else:
                    assert value == pytest.approx(row[name], abs=1e-12)
        # the false positive rate by pandas
        for group, rows in test.assign(p=p1, y=y1).groupby("race"):
            neg = rows[rows.y == 0]
            mine = m.query("attribute == 'race' and group == @group and `class` == @cls and metric == 'fpr'")
            assert mine["value"].iloc[0] == pytest.approx(neg.p.mean(), abs=1e-12)
    acc = m.query("attribute == '(overall)' and metric == 'accuracy'")["value"].iloc[0]
    assert acc == pytest.approx(float(np.mean(pred == test["relationship"].to_numpy())), abs=1e-12)
    _in_range(result)


def test_favourable_classes_are_the_binary_audit_of_that_view(multiclass):
    model, test, result = multiclass
    fav = {"Husband", "Wife"}
    proba = model.predict_proba(test[FEATURES])
    view = test.assign(got=np.isin(model.classes_[np.argmax(proba, axis=1)], list(fav)).astype(int),
                       deserved=test["relationship"].isin(fav).astype(int),
                       score=proba[:, np.isin(model.classes_, list(fav))].sum(1).clip(0, 1))
    binary = audit.run_audit(None, view, label="deserved", protected=["sex", "race"], predictions="got",
                             scores="score", n_bootstrap=200)
    mine = result.metrics.query("`class` == '(favourable)'").drop(columns="class").reset_index(drop=True)
    theirs = binary.metrics.reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, theirs, check_exact=False, rtol=1e-12, atol=1e-12)
    d_mine = result.disparities.query("`class` == '(favourable)'").drop(columns="class").reset_index(drop=True)
    d_bin = binary.disparities.reset_index(drop=True)
    for col in ("attribute", "group", "reference", "metric", "comparison", "value", "ci_low", "ci_high",
                "p_value_raw"):
        pd.testing.assert_series_equal(d_mine[col], d_bin[col], check_exact=False, rtol=1e-12, atol=1e-12)
    # the p-values are corrected with every other row of the multiclass audit: never smaller
    both = d_mine["p_value"].notna()
    assert (d_mine.loc[both, "p_value"] >= d_bin.loc[both, "p_value"] - 1e-15).all()
    assert dict(result.references) == dict(binary.references)


def test_per_class_disparities_signs_and_worst_class(multiclass):
    model, test, result = multiclass
    d = result.disparities
    m = result.metrics
    row = d.query("attribute == 'sex' and group == 'Female' and `class` == 'Own-child' and "
                  "metric == 'demographic_parity_difference'").iloc[0]
    rate = m.query("attribute == 'sex' and metric == 'selection_rate' and `class` == 'Own-child'").set_index("group")
    # Own-child is not a favourable class: receiving it more often is worse, so the row is reference - group
    assert row["value"] == pytest.approx(rate.loc["Male", "value"] - rate.loc["Female", "value"], abs=1e-12)
    worst = d.query("attribute == 'sex' and group == 'Female' and metric == 'worst_class_parity_difference'")
    assert len(worst) == 1
    per_class = d.query("attribute == 'sex' and group == 'Female' and metric == 'demographic_parity_difference' "
                        "and comparison == 'vs_reference' and `class` != '(favourable)'")
    biggest = per_class.loc[per_class["value"].abs().idxmax()]
    assert worst["class"].iloc[0] == biggest["class"] and worst["value"].iloc[0] == biggest["value"]
    assert worst["p_value"].iloc[0] == biggest["p_value"]


def test_a_class_the_data_never_holds_is_kept_with_no_rows(adult):
    train, test = adult
    from sklearn.linear_model import LogisticRegression

    small = train[train["relationship"].isin(["Husband", "Wife", "Own-child"])]
    model = LogisticRegression(max_iter=3000).fit(small[FEATURES], small["relationship"])
    rows = test[test["relationship"].isin(["Husband", "Own-child"])].reset_index(drop=True)
    result = audit.run_audit(model, rows, label="relationship", protected=["sex"], features=FEATURES, n_bootstrap=100)
    m = result.metrics.query("`class` == 'Wife' and attribute == '(overall)'").set_index("metric")
    assert m.loc["base_rate", "value"] == 0 and m.loc["recall", "status"] == "undefined"
    assert "no rows of this class" in m.loc["recall", "reason"]


def test_the_task_is_detected_or_asked_for(adult, regression, multiclass):
    train, test = adult
    assert regression[2].task == "regression" and multiclass[2].task == "multiclass"
    small = test.head(400).copy()
    small["level"] = (small["age"] // 20).astype(int)  # whole numbers 0..4: classes or a quantity?
    with pytest.raises(InputError, match="task='multiclass' or task='regression'") as e:
        audit.run_audit(None, small, label="level", protected=["sex"], predictions="level")
    assert e.value.code == "ambiguous_task" and e.value.column == "level"
    r = audit.run_audit(None, small, label="level", protected=["sex"], predictions="level", task="regression",
                        n_bootstrap=0)
    assert r.task == "regression" and r.metrics.query("attribute == '(overall)' and metric == 'mae'")["value"][0] == 0
    c = audit.run_audit(None, small, label="level", protected=["sex"], predictions="level", task="multiclass",
                        n_bootstrap=0)
    assert c.task == "multiclass"
    # a float label with fractions is a quantity; a text label of many values is a set of classes
    small["amount"] = small["age"] * 1.5 + 0.25
    assert audit.run_audit(None, small, label="amount", protected=["sex"], predictions="amount",
                           n_bootstrap=0).task == "regression"
    assert audit.run_audit(None, small, label="relationship", protected=["sex"], predictions="relationship",
                           n_bootstrap=0).task == "multiclass"
    # two values: the binary audit, as before
    assert audit.run_audit(None, small, label="income", protected=["sex"], predictions="income",
                           positive_label=">50K", n_bootstrap=0).task == "binary"


def test_bad_input_names_the_column_or_argument(adult, regression, multiclass):
    train, test = adult
    reg, clf = regression[0], multiclass[0]
    small = test.head(300).copy()
    with pytest.raises(InputError, match="'relationship'") as e:
        audit.run_audit(None, small, label="relationship", protected=["sex"], predictions="age", task="regression")
    assert e.value.code == "not_numeric"
    bad = small.assign(p=small["age"].astype(float))
    bad.loc[5, "p"] = np.nan
    with pytest.raises(InputError, match="predictions has 1 missing, NaN or infinite") as e:
        audit.run_audit(None, bad, label="hours_per_week", protected=["sex"], predictions="p", task="regression")
    with pytest.raises(ModelError, match="is a classifier") as e:
        audit.run_audit(clf, small, label="hours_per_week", protected=["sex"], features=FEATURES, task="regression")
    assert e.value.code == "wrong_model_kind"
    with pytest.raises(ModelError, match="is a regressor"):
        audit.run_audit(reg, small, label="relationship", protected=["sex"], features=FEATURES, task="multiclass")
    with pytest.raises(ConfigError, match="'Boss'"):
        audit.run_audit(clf, small, label="relationship", protected=["sex"], features=FEATURES,
                        favorable_classes=["Boss"])
    with pytest.raises(ConfigError, match="positive_label= applies to a binary audit"):
        audit.run_audit(reg, small, label="hours_per_week", protected=["sex"], features=FEATURES, positive_label=40)
    with pytest.raises(InputError, match="scores= has no meaning"):
        audit.run_audit(None, small, label="hours_per_week", protected=["sex"], predictions="age", scores="age",
                        task="regression")
    with pytest.raises(ConfigError, match="favorable='maybe' is invalid"):
        audit.run_audit(reg, small, label="hours_per_week", protected=["sex"], features=FEATURES, favorable="maybe")
    for bad in ([[1], [2], [3]] * 100, pd.to_datetime(["2020-01-01", "2020-02-01", "2020-03-01"] * 100)):
        with pytest.raises(InputError, match="a label holds classes") as e:
            audit.run_audit(None, small.assign(y=bad), label="y", protected=["sex"], predictions="relationship")
        assert e.value.code == "bad_label" and e.value.column == "y"
    with pytest.raises(InputError, match="values of another kind") as e:
        audit.run_audit(None, small, label="relationship", protected=["sex"], task="multiclass",
                        predictions=small["age"] * 1.5)
    assert e.value.code == "bad_predictions"
    # without a model, a predicted value outside the label's classes is a class (the model can predict it)
    odd = audit.run_audit(None, small, label="relationship", protected=["sex"], task="multiclass",
                          predictions=np.array(["Husband"] * 299 + ["Martian"]), n_bootstrap=0)
    assert "Martian" in odd.target_info("classes")
    base = odd.metrics.query("attribute == '(overall)' and `class` == 'Martian' and metric == 'base_rate'")
    assert base["value"].iloc[0] == 0
    # a predictions value outside the label's classes is a class (the model predicts it); a label of one class
    # without a model is refused
    with pytest.raises(InputError, match="one class"):
        audit.run_audit(None, small.assign(k="a"), label="k", protected=["sex"], predictions="k", task="multiclass")
    alone = audit.run_audit(reg, small, label="hours_per_week", protected=["sex"], features=FEATURES,
                            train_data=small, n_bootstrap=0)
    assert any("train_data= is used by reweighing" in w for w in alone.warnings)
    with pytest.raises(ConfigError, match="mitigate label_bins=1 is invalid"):
        audit.run_audit(reg, small, label="hours_per_week", protected=["sex"], features=FEATURES,
                        train_data=small, mitigate={"label_bins": 1})
    with pytest.raises(ConfigError, match="favorable_classes= applies to a multiclass"):
        audit.run_audit(None, small, label="income", protected=["sex"], predictions="income",
                        positive_label=">50K", favorable_classes=[">50K"])


def test_a_small_file_is_read_into_memory_for_any_task(tmp_path, adult):
    train, test = adult
    path = tmp_path / "rows.parquet"
    rows = test.head(500).assign(p=lambda d: d["age"] * 0.25 + 30.5)
    rows.to_parquet(path)
    read = audit.run_audit(None, str(path), label="hours_per_week", protected=["sex"], predictions="p",
                           task="regression", n_bootstrap=0)
    direct = audit.run_audit(None, rows, label="hours_per_week", protected=["sex"], predictions="p",
                             task="regression", n_bootstrap=0)
    assert read.task == "regression" and read.metrics.equals(direct.metrics)


def test_outputs_carry_the_task_and_round_trip(regression, multiclass, tmp_path):
    for _, _, result in (regression, multiclass):
        text = result.to_json()
        back = audit.AuditResult.from_json(text)
        assert back == result and back.task == result.task
        assert json.loads(text)["task"] == result.task
        html = result.to_html()
        assert audit.AuditResult.from_html(_write(tmp_path, html)) == result
        assert f"A {result.task} model" in html
        summary = result.summary()
        assert "Overall: " in summary and summary.splitlines()[2] != "Overall: "
    reg = regression[2]
    policy = Policy.from_toml('[[rules]]\nname = "impact"\nmetric = "scoring_rate_ratio"\nmin = 0.8\n'
                              '[[rules]]\nname = "error"\nmetric = "mae"\nscope = "each_group"\nmax = 50\n')
    gate = reg.gate(policy)
    verdicts = {r.rule.name: r.verdict for r in gate.rules}
    assert verdicts["error"] == "pass" and verdicts["impact"] in ("fail", "inconclusive", "pass")
    assert "scoring\\_rate\\_ratio" in render_markdown(reg, gate)
    assert 'name="impact' in render_junit(reg, gate) or "impact" in render_junit(reg, gate)
    mc = multiclass[2]
    gate = mc.gate(Policy.from_toml('[[rules]]\nname = "dp"\nmetric = "demographic_parity_ratio"\nmin = 0.8\n'))
    assert any("[class " in c.group for r in gate.rules for c in r.checks)


def _write(tmp_path, html):
    p = tmp_path / "r.html"
    p.write_text(html, encoding="utf-8")
    return p


def test_a_binary_result_file_has_no_task_key(adult_scored):
    r = audit.run_audit(None, adult_scored, label="income", positive_label=">50K", protected=["sex"],
                        scores="score", n_bootstrap=0)
    d = json.loads(r.to_json())
    assert "task" not in d and "target" not in d and r.task == "binary"


def test_hostile_class_names_are_escaped_everywhere():
    rng = np.random.default_rng(0)
    evil = ["<script>alert(1)</script>", "a|b*c", "ok"]
    n = 600
    df = pd.DataFrame({"g": rng.choice(["x", "y"], n), "y": rng.choice(evil, n)})
    df["p"] = np.where(rng.random(n) < 0.7, df["y"], rng.choice(evil, n))
    r = audit.run_audit(None, df, label="y", protected=["g"], predictions="p", favorable_classes=["ok"],
                        n_bootstrap=100)
    html = r.to_html()
    assert "<script>alert(1)</script>" not in html
    md = render_markdown(r)
    assert "<script>" not in md and "a|b" not in md


def test_same_seed_same_result_in_any_row_order(adult):
    train, test = adult
    rows = test.head(3000).reset_index(drop=True)
    rows = rows.assign(p=rows["age"] * 0.3 + rows["education_num"])
    a = audit.run_audit(None, rows, label="hours_per_week", protected=["sex", "race"], predictions="p",
                        n_bootstrap=100, seed=3)
    shuffled = rows.sample(frac=1.0, random_state=1).reset_index(drop=True)
    b = audit.run_audit(None, shuffled, label="hours_per_week", protected=["sex", "race"], predictions="p",
                        n_bootstrap=100, seed=3)
    assert a.data_fingerprint == b.data_fingerprint
    for col in ("value", "ci_low", "ci_high"):
        assert np.allclose(a.metrics[col].astype(float), b.metrics[col].astype(float), rtol=1e-12, atol=1e-12,
                           equal_nan=True)
    assert np.allclose(a.disparities["p_value"].astype(float), b.disparities["p_value"].astype(float),
                       rtol=1e-9, atol=1e-300, equal_nan=True)


def test_explanations_of_a_regressor_and_of_favourable_classes(adult):
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier
    from sklearn.linear_model import Ridge

    train, test = adult
    rows = test.head(4000).reset_index(drop=True)
    for model in (HistGradientBoostingRegressor(max_iter=30, random_state=0), Ridge()):
        model.fit(train[FEATURES], train["hours_per_week"])
        r = audit.run_audit(model, rows, label="hours_per_week", protected=["sex"], features=FEATURES,
                            n_bootstrap=100, explain={"rows": 400, "lime_seeds": 2, "proxy_rows": 1000})
        sec = r.section("explanations")
        assert not sec.get("failed_parts") and sec.get("output_space") == "prediction", sec.get("failed_parts")
        assert sec.get("explainer").startswith("exact SHAP")
        gap = r.gap_attribution.query("attribute == 'sex' and population == 'all'")
        total = gap[gap["total"]]["contribution"].iloc[0]
        assert gap[~gap["total"]]["contribution"].sum() == pytest.approx(total, abs=1e-9)
        assert set(r.gap_attribution["population"]) == {"all"}
        assert len(r.lime_cases) and r.lime_cases["prediction"].notna().all()
        assert "prediction" in r.to_html()
    rf = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0).fit(train[FEATURES],
                                                                                    train["relationship"])
    m = audit.run_audit(rf, rows, label="relationship", protected=["sex"], features=FEATURES, n_bootstrap=100,
                        favorable_classes=["Husband", "Wife"], explain={"rows": 300, "lime_seeds": 2,
                                                                        "proxy_rows": 1000})
    sec = m.section("explanations")
    assert not sec.get("failed_parts") and sec.get("output_space") == "probability of a favourable class"
    by_class = sec.frame("shap_by_class")
    assert set(by_class["class"]) == set(map(str, rf.classes_)) and (by_class["mean_abs_shap"] >= 0).all()
    assert "for each class" in m.to_html()
    # without favourable classes: each class's probability explained, the overall importance their sum; the parts
    # that need a favourable output are said to be skipped
    m2 = audit.run_audit(rf, rows, label="relationship", protected=["sex"], features=FEATURES, n_bootstrap=0,
                         explain={"rows": 300, "proxy_rows": 1000})
    sec2 = m2.section("explanations")
    notes = " ".join(sec2.get("notes"))
    assert "favorable_classes" in notes and len(m2.proxy_auc) == 1 and m2.gap_attribution.empty
    total = sec2.frame("shap_by_class").groupby("feature")["mean_abs_shap"].sum()
    imp = m2.shap_importance.set_index("feature")["mean_abs_shap"]
    assert np.allclose(imp.sort_index(), total.sort_index(), rtol=1e-12)


def test_reweighing_generalises_to_classes_and_label_bins(adult):
    from sklearn.linear_model import LogisticRegression, Ridge

    from audit.mitigation import class_weights, weights_for

    train, test = adult
    # with two label values the generalised weights are aif360's binary ones
    y = (train["income"] == ">50K").to_numpy(np.int64)
    binary = weights_for(train, y, ["sex", "race"], (">50K", "<=50K"))
    general = class_weights(train, 1 - y, [">50K", "<=50K"], ["sex", "race"])
    assert np.allclose(binary.weights, general.weights, rtol=1e-12)
    rows = test.head(5000).reset_index(drop=True)
    reg = Ridge().fit(train[FEATURES], train["hours_per_week"])
    r = audit.run_audit(reg, rows, label="hours_per_week", protected=["sex"], features=FEATURES, n_bootstrap=200,
                        mitigate={"label_bins": 4}, train_data=train)
    sec = r.section("mitigation")
    assert sec.get("refit") and not r.errors
    w = sec.frame("weights")
    for label, cells in w.groupby("label"):  # once weighted, every group has the overall label distribution
        assert np.allclose(cells["base_rate_after"], cells["base_rate_after"].iloc[0], atol=1e-12)
    ch = r.mitigation.set_index(["attribute", "group", "metric"])
    d = r.disparities.query("comparison == 'vs_reference'").set_index(["attribute", "group", "metric"])
    key = ("sex", "Female", "mean_prediction_difference")
    assert ch.loc[key, "before"] == pytest.approx(d.loc[key, "value"], abs=1e-12)  # the audit's own numbers
    after = reg.__class__().fit(train[FEATURES], train["hours_per_week"],
                                sample_weight=_weights_of(sec, train)).predict(rows[FEATURES])
    female = (rows["sex"] == "Female").to_numpy()
    gap = after[female].mean() - after[~female].mean()
    assert ch.loc[key, "after"] == pytest.approx(gap, abs=1e-9)
    assert ch.loc[key, "change_low"] <= ch.loc[key, "change"] <= ch.loc[key, "change_high"]
    clf = LogisticRegression(max_iter=300).fit(train[FEATURES], train["relationship"])
    m = audit.run_audit(clf, rows, label="relationship", protected=["sex"], features=FEATURES, n_bootstrap=200,
                        favorable_classes=["Husband", "Wife"], mitigate=True, train_data=train)
    mc = m.mitigation
    assert set(mc["class"]) >= {"(favourable)", "Husband", "Own-child"}
    fav = mc.query("`class` == '(favourable)' and group == 'Female' and metric == 'demographic_parity_difference'")
    mine = m.disparities.query("`class` == '(favourable)' and group == 'Female' and "
                               "metric == 'demographic_parity_difference'")["value"].iloc[0]
    assert fav["before"].iloc[0] == pytest.approx(mine, abs=1e-12)
    assert m.mitigation_finding and "demographic parity difference" in m.mitigation_finding


def _weights_of(sec, train):
    """Each training row's weight, from the section's weights table (group x label bin)."""
    w = sec.frame("weights")
    edges = sorted({float(x.strip("[]()")) for lab in w["label"] for x in lab.split(", ")})
    codes = np.clip(np.searchsorted(edges, train["hours_per_week"].to_numpy(float), side="right") - 1, 0,
                    len(edges) - 2)
    names = list(dict.fromkeys(w["label"]))
    lookup = {(g, lab): v for g, lab, v in zip(w["group"], w["label"], w["weight"])}
    return np.array([lookup[(g, names[c])] for g, c in zip(train["sex"].astype(str), codes)])


def test_the_command_line_audits_other_tasks(tmp_path, adult):
    from audit import cli as cli_mod

    train, test = adult
    rows = test.head(2000).assign(pred_hours=lambda d: d["age"] * 0.2 + 32.5)
    data = tmp_path / "rows.csv"
    rows.to_csv(data, index=False)
    policy = tmp_path / "p.toml"
    policy.write_text('[[rules]]\nname = "impact"\nmetric = "scoring_rate_ratio"\nmin = 0.0\n')
    out = tmp_path / "r.json"
    code = cli_mod.main(["run", "--data", str(data), "--label", "hours_per_week", "--protected", "sex",
                         "--predictions", "pred_hours", "--task", "regression", "--unfavorable", "--scoring-cut", "40",
                         "--n-bootstrap", "0", "--json", str(out), "--policy", str(policy)])
    assert code == 0
    r = audit.AuditResult.from_json(out)
    assert r.task == "regression" and r.target_info("favorable") == "lower" and r.target_info("scoring_cut") == 40
    config = tmp_path / "audit.toml"
    config.write_text(f'[audit]\ndata = "{data.as_posix()}"\nlabel = "relationship"\nprotected = ["sex"]\n'
                      'predictions = "relationship"\nfavorable_classes = ["Husband", "Wife"]\nn_bootstrap = 0\n'
                      f'json = "{(tmp_path / "m.json").as_posix()}"\n')
    assert cli_mod.main(["run", "--config", str(config)]) == 0
    m = audit.AuditResult.from_json(tmp_path / "m.json")
    assert m.task == "multiclass" and list(m.target_info("favorable_classes")) == ["Husband", "Wife"]
    config.write_text('[audit]\ntask = "ordinal"\n')
    assert cli_mod.main(["run", "--config", str(config), "--data", str(data), "--label", "x", "--protected",
                         "sex", "--predictions", "x"]) == 2


def test_notebook_charts_follow_the_task(regression, multiclass):
    reg, mc = regression[2], multiclass[2]
    assert "<svg" in reg.chart("metric").html and "mae by sex" in reg.chart("metric").html
    assert "mean prediction difference" in reg.chart("disparity").html
    html = mc.chart("metric", "recall").html  # the macro average by default: one row per group
    assert html.count("Female") >= 1 and "recall by sex" in html
    assert "<svg" in mc.chart("disparity").html and "<svg" in mc.chart("metric", "selection_rate", cls="Wife").html


@pytest.mark.parametrize("where", ["duckdb", "polars"])
def test_a_multiclass_audit_of_data_an_engine_holds_equals_memory(tmp_path, adult, multiclass, where):
    train, test = adult
    model = multiclass[0]
    rows = test.head(6000).reset_index(drop=True)
    rows["pred"] = model.predict(rows[FEATURES])
    path = tmp_path / "rows.parquet"
    rows.to_parquet(path)
    if where == "duckdb":
        data, kw = str(path), {"engine": "duckdb"}
    else:
        pl = pytest.importorskip("polars")
        data, kw = pl.read_parquet(path).lazy(), {}
    common = dict(label="relationship", protected=["sex", "race"], n_bootstrap=200, seed=4)
    mem = audit.run_audit(None, rows, predictions="pred", favorable_classes=["Husband", "Wife"], **common)
    eng = audit.run_audit(None, data, predictions="pred", favorable_classes=["Husband", "Wife"], **common, **kw)
    assert eng.task == "multiclass" and eng.section("data_source") is not None and eng.n_rows == len(rows)
    for a, b in ((mem.metrics, eng.metrics), (mem.disparities, eng.disparities)):
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=False,
                                      rtol=1e-12, atol=1e-12)
    assert dict(mem.references) == dict(eng.references)
    if where == "duckdb":  # the model applied batch by batch where the data lives: its most probable class
        applied = audit.run_audit(model, str(path), features=FEATURES, task="multiclass", engine="duckdb",
                                  **common)
        direct = audit.run_audit(model, rows[[*FEATURES, "sex", "race", "relationship"]], features=FEATURES,
                                 **common)
        pd.testing.assert_frame_equal(direct.metrics, applied.metrics, check_exact=False, rtol=1e-12, atol=1e-12)
        assert applied.section("data_source").get("model_applied_in_batches")
        with pytest.raises(ConfigError, match="explain= on data an engine scans"):
            audit.run_audit(model, str(path), features=FEATURES, task="multiclass", engine="duckdb", explain=True,
                            **common)


def test_a_categorical_label_with_an_unused_category_is_still_binary():
    df = pd.DataFrame({"g": ["a", "b"] * 50,
                       "y": pd.Categorical(["yes", "no"] * 50, categories=["yes", "no", "maybe"])})
    r = audit.run_audit(None, df, label="y", protected=["g"], predictions="y", positive_label="yes", n_bootstrap=0)
    assert r.task == "binary"
    three = df.assign(y=pd.Categorical(["yes", "no", "maybe", "no"] * 25))
    assert audit.run_audit(None, three, label="y", protected=["g"], predictions="y", n_bootstrap=0).task == \
        "multiclass"


def test_a_rule_can_judge_chosen_classes(multiclass, regression):
    mc = multiclass[2]
    rule = '[[rules]]\nname = "fav"\nmetric = "demographic_parity_ratio"\nmin = 0.8\nclasses = ["(favourable)"]\n'
    gate = mc.gate(Policy.from_toml(rule))
    checks = [c for r in gate.rules for c in r.checks]
    assert checks and all(c.group.endswith("[class (favourable)]") for c in checks)
    assert "[classes: (favourable)]" in gate.rules[0].rule.describe()
    odd = mc.gate(Policy.from_toml(rule.replace("(favourable)", "Astronaut")))
    assert not odd.passed and any("Astronaut" in n for n in odd.notes + tuple(
        c.message for r in odd.rules for c in r.checks))
    other = regression[2].gate(Policy.from_toml(rule.replace("demographic_parity_ratio", "scoring_rate_ratio")))
    assert not other.passed
    with pytest.raises(ConfigError, match="classes must be"):
        Policy.from_toml(rule.replace('["(favourable)"]', "true"))


def _compare_regression(mem, eng):
    """An engine's regression audit against memory's: fixed-point sums within 1e-7, distances within their bounds."""
    m = mem.metrics.merge(eng.metrics, on=["attribute", "group", "metric"], suffixes=("_m", "_e"))
    assert len(m) == len(mem.metrics) == len(eng.metrics)
    for c in ("value", "ci_low", "ci_high"):
        x, y = m[c + "_m"].astype(float), m[c + "_e"].astype(float)
        assert ((x - y).abs() <= 1e-7 * np.maximum(x.abs(), 1.0) + 1e-12).where(x.notna(), y.isna()).all(), c
    d = mem.disparities.merge(eng.disparities, on=["attribute", "group", "metric", "comparison"],
                              suffixes=("_m", "_e"))
    assert len(d) == len(mem.disparities)
    distance = d["metric"].isin(["ks_distance", "wasserstein_distance"])
    for c in ("value", "ci_low", "ci_high", "p_value"):
        x, y = d.loc[~distance, c + "_m"].astype(float), d.loc[~distance, c + "_e"].astype(float)
        assert ((x - y).abs() <= 1e-6 * np.maximum(x.abs(), 1e-3) + 1e-12).where(x.notna(), y.isna()).all(), c
    rows = d[distance & (d["comparison"] == "vs_reference") & d["value_m"].notna()]
    assert len(rows)
    for _, r in rows.iterrows():
        bound = float(r["reason_e"].split("within ")[1].split(" of")[0])
        assert abs(r["value_e"] - r["value_m"]) <= bound + 1e-9, (r["group"], r["metric"], r["value_e"], r["value_m"])
    assert (d["verdict_m"] == d["verdict_e"])[~distance].mean() > 0.99


@pytest.mark.parametrize("where", ["duckdb", "polars"])
def test_a_regression_audit_of_data_an_engine_holds_agrees_with_memory(tmp_path, adult, regression, where):
    train, test = adult
    rows = test.reset_index(drop=True)
    rows["pred"] = regression[0].predict(rows[FEATURES])
    path = tmp_path / "rows.parquet"
    rows.to_parquet(path)
    if where == "duckdb":
        data, kw = str(path), {"engine": "duckdb"}
    else:
        pl = pytest.importorskip("polars")
        data, kw = pl.read_parquet(path).lazy(), {}
    common = dict(label="hours_per_week", protected=["sex", "race"], predictions="pred", task="regression",
                  n_bootstrap=200, seed=2)
    mem = audit.run_audit(None, rows, **common)
    eng = audit.run_audit(None, data, **common, **kw)
    assert eng.task == "regression" and eng.n_rows == len(rows)
    assert eng.section("data_source").get("scoring_cut") == pytest.approx(mem.target_info("scoring_cut"))
    _compare_regression(mem, eng)
    if where == "duckdb":
        lower = dict(common, favorable="lower", scoring_cut=45.0)
        _compare_regression(audit.run_audit(None, rows, **lower), audit.run_audit(None, data, **lower, **kw))
        with pytest.raises(ConfigError, match="reads the predictions from a column"):
            audit.run_audit(regression[0], data, label="hours_per_week", protected=["sex"], features=FEATURES, **kw)
        bad = rows.assign(pred=rows["pred"].where(rows.index != 7, np.nan))
        bad.to_parquet(tmp_path / "bad.parquet")
        with pytest.raises(InputError, match="predictions column 'pred' has 1 missing"):
            audit.run_audit(None, str(tmp_path / "bad.parquet"), **common, **kw)
