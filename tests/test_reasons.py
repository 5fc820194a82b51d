"""Issue 21: principal reasons for adverse decisions. The reasons equal the top negative SHAP contributions computed
directly with shap (gradient boosting, lightgbm, a one-hot pipeline, a logistic regression; the positive label
favourable or not), never name a protected attribute or a flagged proxy (and say so), read as the person's values,
are the same in another process, and bad input is refused naming what is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import audit
from audit.exceptions import ConfigError, InputError
from audit.reasons import NO_REASON, ReasonMap, reason_codes

NUM = ["duration_months", "credit_amount", "installment_rate", "age", "existing_credits", "residence_since"]


@pytest.fixture(scope="module")
def german() -> pd.DataFrame:
    from audit.datasets import load_german

    d = load_german()
    d["sex01"] = (d["sex"] == "female").astype(int)
    return d


def _expected(values: np.ndarray, feats: list[str], excluded: set[str], k: int, sign: float = 1.0):
    """Per row: [(feature, contribution)] of the k most negative signed contributions of the allowed features."""
    out = []
    for row in values * sign:
        cand = [(feats[j], row[j]) for j in range(len(feats)) if feats[j] not in excluded and row[j] < 0]
        cand.sort(key=lambda t: t[1])  # stable: ties keep the feature order
        out.append(cand[:k])
    return out


def _got(codes, rows: np.ndarray):
    frame = codes.to_frame()
    return [[(r.feature, r.contribution) for r in frame[(frame["row"] == pos) & (frame["rank"] > 0)].itertuples()]
            for pos in rows]


def _same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert [f for f, _ in g] == [f for f, _ in w]
        np.testing.assert_allclose([c for _, c in g], [c for _, c in w], rtol=1e-6, atol=1e-9)


def test_gradient_boosting_equals_shap_tree_explainer(german):
    """sklearn gradient boosting: shap's TreeExplainer explains its log-odds margin; the sex column is a feature
    of the model but never a reason."""
    import shap
    from sklearn.ensemble import GradientBoostingClassifier

    feats = NUM + ["sex01"]
    model = GradientBoostingClassifier(random_state=0, n_estimators=60).fit(german[feats], german["credit"])
    codes = reason_codes(model, german, protected=["sex01"], positive_label="good", features=feats, k=3,
                         proxies=[])
    adverse = np.flatnonzero(model.predict_proba(german[feats])[:, 1] < 0.5)
    assert codes.n_adverse == len(adverse) > 50
    values = np.asarray(shap.TreeExplainer(model).shap_values(german[feats].iloc[adverse]))
    want = _expected(values, feats, {"sex01"}, 3)
    _same(_got(codes, adverse), want)
    assert "sex01" not in set(codes.to_frame()["feature"])
    assert ("sex01", "protected attribute") in codes.excluded
    assert "log-odds margin" in codes.space and "TreeSHAP" in codes.explainer
    # the value column is the person's own value, readable
    frame = codes.to_frame()
    first = frame[frame["rank"] == 1].iloc[0]
    raw = german.iloc[int(first["row"])][first["feature"]]
    assert first["value"] == str(int(raw)) and first["detail"] == f"{first['feature']} = {int(raw)}"


def test_lightgbm_unfavourable_positive_equals_shap(german):
    """lightgbm (its own TreeSHAP) with the positive label unfavourable: the adverse rows are the predicted
    positives and the reasons are the largest positive contributions to the positive margin."""
    import shap

    lightgbm = pytest.importorskip("lightgbm")
    y = (german["credit"] == "bad").astype(int)
    model = lightgbm.LGBMClassifier(n_estimators=40, verbose=-1, random_state=0).fit(german[NUM], y)
    data = german.assign(risk=y)
    codes = reason_codes(model, data, protected="sex", positive_label=1, favorable=False, features=NUM, k=4,
                         proxies=[])
    adverse = np.flatnonzero(model.predict_proba(german[NUM])[:, 1] >= 0.5)
    assert codes.n_adverse == len(adverse) > 20
    values = np.asarray(shap.TreeExplainer(model).shap_values(german[NUM].iloc[adverse]))
    if values.ndim == 3:
        values = values[:, :, 1]
    _same(_got(codes, adverse), _expected(values, NUM, set(), 4, sign=-1.0))
    assert codes.outcome == "predicted 1"


def test_one_hot_pipeline_sums_dummies(german):
    """A pipeline with one-hot columns: the reasons are per original column (the dummies' TreeSHAP values summed),
    and the value is the person's category, not an encoded column."""
    import shap
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    cats = ["checking_status", "savings", "purpose"]
    feats = NUM + cats
    pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cats)],
                            remainder="passthrough", verbose_feature_names_out=False)
    model = make_pipeline(pre, GradientBoostingClassifier(random_state=0, n_estimators=50))
    model.fit(german[feats], german["credit"])
    codes = reason_codes(model, german, protected="sex", positive_label="good", features=feats, proxies=[])
    adverse = np.flatnonzero(model.predict_proba(german[feats])[:, 1] < 0.5)
    Xt = model[:-1].transform(german[feats].iloc[adverse])
    raw = np.asarray(shap.TreeExplainer(model[-1]).shap_values(Xt))
    names = list(model[:-1].get_feature_names_out())
    summed = np.column_stack([raw[:, [j for j, n in enumerate(names) if n == f or n.startswith(f"{f}_")]].sum(1)
                              for f in feats])
    _same(_got(codes, adverse), _expected(summed, feats, set(), 4))
    frame = codes.to_frame()
    cat_rows = frame[frame["feature"].isin(cats)]
    assert len(cat_rows) and all(v in set(german[f].astype(str)) for f, v in zip(cat_rows["feature"],
                                                                                   cat_rows["value"]))


def test_logistic_regression_equals_shap_linear_explainer(german):
    import shap
    from sklearn.linear_model import LogisticRegression

    X = german[NUM].astype(float)
    model = LogisticRegression(max_iter=2000).fit(X, german["credit"])
    codes = reason_codes(model, german, protected="sex", positive_label="good", features=NUM, proxies=[],
                         background=len(german), k=2)
    adverse = np.flatnonzero(model.predict_proba(X)[:, 1] < 0.5)
    masker = shap.maskers.Independent(X, max_samples=len(X))  # all rows: the default keeps 100
    values = shap.LinearExplainer(model, masker).shap_values(X.iloc[adverse])  # interventional: coef (x - mean)
    _same(_got(codes, adverse), _expected(np.asarray(values), NUM, set(), 2))
    assert "linear" in codes.explainer


def test_never_a_protected_attribute_or_proxy(german):
    """A model that uses sex and a near-copy of it: sex is excluded as protected, the copy as a proxy (found in the
    data when no audit is given, or taken from the audit's proxy scan), and both exclusions are stated."""
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(0)
    d = german.copy()
    d["title"] = np.where(d["sex01"] == 1, "Ms", "Mr")
    d.loc[rng.choice(len(d), 30, replace=False), "title"] = "Dr"
    d["title_code"] = d["title"].map({"Mr": 0, "Ms": 1, "Dr": 2})
    # the label leans on sex, so the model leans on it and on its copy
    y = np.where((d["sex01"] == 1) & (rng.random(len(d)) < 0.5), "bad", d["credit"])
    feats = NUM + ["sex01", "title_code"]
    model = GradientBoostingClassifier(random_state=0, n_estimators=50).fit(d[feats], y)
    codes = reason_codes(model, d, protected=["sex01"], positive_label="good", features=feats)
    excluded = dict(codes.excluded)
    assert excluded["sex01"] == "protected attribute"
    assert "title_code" in excluded and "associated with protected attribute sex01" in excluded["title_code"]
    assert not {"sex01", "title_code"} & set(codes.to_frame()["feature"])
    text = codes.statement()
    assert "sex01 (protected attribute)" in text and "title_code (" in text
    # the audit's own proxy scan decides when the reasons come from its result
    result = audit.run_audit(model, d.assign(label=y), label="label", positive_label="good", protected="sex01",
                             features=feats, n_bootstrap=0,
                             explain={"rows": 200, "lime_cases": 0, "proxy_rows": 1000})
    flagged = {r["feature"] for r in result.section("explanations").table("proxies").records() if r["flag"]}
    assert "title_code" in flagged
    codes2 = result.reason_codes(model, d)
    assert set(dict(codes2.excluded)) == {"sex01"} | flagged
    assert "the audit's proxy scan" in dict(codes2.excluded)["title_code"]
    assert not ({"sex01"} | flagged) & set(codes2.to_frame()["feature"])


def test_row_with_no_permitted_reason_says_so():
    """When only the protected attribute pushed a row down, the row is listed with no reason and the reason why
    (never a made-up one)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    g = rng.integers(0, 2, 400)
    d = pd.DataFrame({"g": g, "x": np.ones(400), "y": np.where(rng.random(400) < 0.2 + 0.6 * g, 1, 0)})
    model = LogisticRegression().fit(d[["g", "x"]], d["y"])
    codes = reason_codes(model, d, protected="g", positive_label=1, features=["g", "x"], proxies=[])
    frame = codes.to_frame()
    assert codes.n_adverse > 0 and (frame["rank"] == 0).all() and (frame["reason"] == NO_REASON).all()
    assert any("no permitted reason" in n for n in codes.notes)


def test_reason_map_text_and_refusals(german, tmp_path):
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(random_state=0, n_estimators=30).fit(german[NUM], german["credit"])
    path = tmp_path / "reasons.toml"
    path.write_text('duration_months = "Term of the loan too long"\n[credit_amount]\ntext = "Amount requested '
                    'too high"\nname = "amount requested"\n', encoding="utf-8")
    codes = reason_codes(model, german, protected="sex", positive_label="good", features=NUM, reasons=path,
                         proxies=[])
    frame = codes.to_frame()
    dur = frame[frame["feature"] == "duration_months"]
    amt = frame[frame["feature"] == "credit_amount"]
    assert len(dur) and (dur["reason"] == "Term of the loan too long").all()
    assert len(amt) and amt["detail"].str.startswith("amount requested = ").all()
    other = frame[~frame["feature"].isin(["duration_months", "credit_amount"]) & (frame["rank"] > 0)]
    assert (other["reason"] == other["detail"]).all()
    with pytest.raises(ConfigError, match="'duration'.*does not use"):
        reason_codes(model, german, protected="sex", positive_label="good", features=NUM,
                     reasons={"duration": "Term too long"})
    with pytest.raises(ConfigError, match="unknown key"):
        ReasonMap.from_dict({"age": {"txt": "x"}})
    with pytest.raises(ConfigError, match="invalid TOML"):
        ReasonMap.from_toml("age = \n[x\n")


@pytest.mark.parametrize("kwargs, error, match", [
    ({"k": 0}, ConfigError, "k=0 is invalid"),
    ({"k": True}, ConfigError, "k=True is invalid"),
    ({"protected": "gender"}, InputError, "protected attribute 'gender' is not a column"),
    ({"protected": []}, ConfigError, "protected= is empty"),
    ({"features": NUM + ["income"]}, InputError, "feature 'income'"),
    ({"exclude": ["salary"]}, ConfigError, "exclude names 'salary'"),
    ({"id_column": "applicant"}, InputError, "id_column 'applicant'"),
    ({"favorable": "yes"}, ConfigError, "favorable='yes' is invalid"),
])
def test_bad_input_is_refused_naming_it(german, kwargs, error, match):
    from sklearn.ensemble import GradientBoostingClassifier

    model = GradientBoostingClassifier(random_state=0, n_estimators=10).fit(german[NUM], german["credit"])
    args = {"protected": "sex", "positive_label": "good", "features": NUM, **kwargs}
    with pytest.raises(error, match=match):
        reason_codes(model, german, **args)


def test_non_binary_result_is_refused(german):
    from sklearn.linear_model import LinearRegression

    feats = [f for f in NUM if f != "credit_amount"]
    model = LinearRegression().fit(german[feats], german["credit_amount"])
    result = audit.run_audit(model, german, label="credit_amount", protected="sex", features=feats, n_bootstrap=0)
    with pytest.raises(InputError, match="binary decision; this is a regression audit"):
        result.reason_codes(model, german)


def test_hostile_values_are_inert_in_the_csv_and_json(tmp_path):
    """A category that a spreadsheet would run as a formula is quoted; a negative number is left a number; names
    with control characters are written as data (CSV quoting, JSON escapes) and shown as escapes on a terminal."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(2)
    n = 600
    bad = "=HYPERLINK(\"http://x\",\"y\")"
    col = "note\x1b[31m\n"
    d = pd.DataFrame({col: rng.choice([bad, "@SUM(1)", "ok"], n), "x": rng.normal(size=n) - 5,
                      "g": rng.choice(["a", "b"], n)})
    d["y"] = np.where((d[col] != "ok") | (rng.random(n) < 0.3), 0, 1)
    pre = ColumnTransformer([("c", OneHotEncoder(), [col])], remainder="passthrough")
    model = make_pipeline(pre, GradientBoostingClassifier(random_state=0, n_estimators=20)).fit(d[[col, "x"]], d["y"])
    codes = reason_codes(model, d, protected="g", positive_label=1, features=[col, "x"], proxies=[])
    text = codes.to_csv(tmp_path / "r.csv")
    import csv
    import io

    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    assert not any(c.startswith(("=", "@")) for c in cells)
    assert "'" + bad in cells and "'@SUM(1)" in cells
    assert any(c.startswith("-") and float(c) < 0 for c in cells if c[:1] == "-")  # numbers stay numbers
    assert (tmp_path / "r.csv").read_text(encoding="utf-8") == text
    json.dumps(codes.to_dict())  # plain data


def _cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audit", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


@pytest.mark.slow
def test_cli_reasons_are_the_same_in_another_process(german, tmp_path):
    """`audit reasons` twice, in fresh processes with different hash seeds: byte-identical CSV and JSON; with
    --result the audit's settings are used, and giving them again is refused."""
    import joblib
    from sklearn.ensemble import HistGradientBoostingClassifier

    feats = NUM + ["sex01"]
    model = HistGradientBoostingClassifier(random_state=0, max_iter=40).fit(german[feats], german["credit"])
    joblib.dump(model, tmp_path / "model.joblib")
    german.to_csv(tmp_path / "data.csv", index=False)
    outs = []
    for seed in ("1", "2"):
        r = _cli("reasons", "--model", "model.joblib", "--data", "data.csv", "--protected", "sex01",
                 "--positive-label", "good", "--out", f"r{seed}.csv", "--json", f"r{seed}.json", cwd=tmp_path,
                 env={"PYTHONHASHSEED": seed})
        assert r.returncode == 0, r.stderr
        assert "Never given as reasons: sex01 (protected attribute)" in r.stderr
        outs.append(((tmp_path / f"r{seed}.csv").read_bytes(), (tmp_path / f"r{seed}.json").read_bytes()))
    assert outs[0] == outs[1]
    frame = pd.read_csv(tmp_path / "r1.csv")
    assert "sex01" not in set(frame["feature"].dropna()) and frame["rank"].max() == 4
    r = _cli("run", "--model", "model.joblib", "--data", "data.csv", "--label", "credit", "--positive-label", "good",
             "--protected", "sex01", "--features", ",".join(feats), "--n-bootstrap", "0", "--json", "result.json",
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = _cli("reasons", "--model", "model.joblib", "--data", "data.csv", "--result", "result.json", "--out",
             "r3.csv", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "r3.csv").read_bytes() == outs[0][0]
    r = _cli("reasons", "--model", "model.joblib", "--data", "data.csv", "--result", "result.json",
             "--protected", "sex", "--out", "r4.csv", cwd=tmp_path)
    assert r.returncode == 2 and "--protected come(s) from --result" in r.stderr
    assert not (tmp_path / "r4.csv").exists()


def test_a_function_giving_labels_is_explained_model_agnostically():
    """A plain function returning 0/1 labels: its other label is found from its output, the reasons come from
    shap's permutation explainer of its 0/1 decision, and the statement says both."""
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"x": rng.normal(size=200), "z": rng.normal(size=200), "g": rng.choice(["a", "b"], 200)})

    def model(X):
        return (X["x"] + X["z"] > 0).astype(int).to_numpy()

    codes = reason_codes(model, d, protected="g", positive_label=1, features=["x", "z"], proxies=[])
    assert codes.n_adverse == int((d["x"] + d["z"] <= 0).sum())
    assert "permutation" in codes.explainer and any("only predicted labels" in n for n in codes.notes)
    frame = codes.to_frame()
    assert set(frame.loc[frame["rank"] > 0, "feature"]) <= {"x", "z"} and (frame["contribution"].dropna() < 0).all()
