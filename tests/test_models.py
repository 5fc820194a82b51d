"""Model adapters: classes_ order, decision functions, callables, non-determinism, predict once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

import audit


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 600
    x = rng.normal(size=(n, 2))
    g = rng.choice(["a", "b"], size=n)
    y = np.where(x[:, 0] + 0.5 * (g == "a") + rng.normal(scale=0.5, size=n) > 0, "hired", "rejected")
    return pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "g": g, "y": y})


def test_positive_class_located_through_classes(data):
    model = LogisticRegression().fit(data[["x0", "x1"]], data["y"])
    assert list(model.classes_) == ["hired", "rejected"]  # the positive class is column 0
    r = audit.run_audit(model, data, label="y", positive_label="hired", protected=["g"], features=["x0", "x1"],
                        n_bootstrap=0)
    proba = model.predict_proba(data[["x0", "x1"]])[:, 0]
    m = r.metrics
    sel = m[(m.attribute == "(overall)") & (m.metric == "selection_rate")]["value"].iloc[0]
    assert sel == pytest.approx((proba >= 0.5).mean(), abs=1e-12)
    assert r.model.method == "predict_proba" and r.model.deterministic is True


def test_feature_names_in_default(data):
    model = LogisticRegression().fit(data[["x0", "x1"]], data["y"])
    r = audit.run_audit(model, data, label="y", positive_label="hired", protected=["g"], n_bootstrap=0)
    assert r.features == ("x0", "x1")


def test_decision_function_model(data):
    model = LinearSVC().fit(data[["x0", "x1"]], data["y"])
    r = audit.run_audit(model, data, label="y", positive_label="hired", protected=["g"], n_bootstrap=0)
    m = r.metrics
    auc = m[(m.attribute == "(overall)") & (m.metric == "roc_auc")]["value"].iloc[0]
    from sklearn.metrics import roc_auc_score

    assert auc == pytest.approx(roc_auc_score(data["y"] == "hired", -model.decision_function(data[["x0", "x1"]])))
    brier = m[(m.attribute == "(overall)") & (m.metric == "brier")].iloc[0]
    assert brier["status"] == "undefined" and "not probabilities" in brier["reason"]


def test_callable_probabilities_and_labels(data):
    r = audit.run_audit(lambda X: 1 / (1 + np.exp(-X["x0"].to_numpy())), data, label="y", positive_label="hired",
                        protected=["g"], features=["x0"], n_bootstrap=0)
    assert r.model.score_kind == "probability"
    r2 = audit.run_audit(lambda X: np.where(X["x0"] > 0, "hired", "rejected"), data, label="y",
                         positive_label="hired", protected=["g"], features=["x0"], n_bootstrap=0)
    assert r2.model.score_kind is None
    a = r.metrics.set_index(["attribute", "group", "metric"])["value"]
    b = r2.metrics.set_index(["attribute", "group", "metric"])["value"]
    assert a[("g", "a", "accuracy")] == b[("g", "a", "accuracy")]


def test_non_deterministic_model_is_reported(data):
    rng = np.random.default_rng(1)

    def noisy(X):
        return rng.random(len(X))

    with pytest.warns(audit.NonDeterministicModelWarning):
        r = audit.run_audit(noisy, data, label="y", positive_label="hired", protected=["g"], features=["x0"],
                            n_bootstrap=0)
    assert r.model.deterministic is False
    assert any("non-deterministic" in w for w in r.warnings)


def test_model_predicts_once_on_all_rows(data):
    calls = []

    class Counting:
        classes_ = np.array(["hired", "rejected"])

        def predict_proba(self, X):
            calls.append(len(X))
            p = 1 / (1 + np.exp(-X["x0"].to_numpy()))
            return np.c_[p, 1 - p]

    audit.run_audit(Counting(), data, label="y", positive_label="hired", protected=["g"], features=["x0"],
                    n_bootstrap=0, check_determinism_rows=50)
    assert calls == [len(data), 50]  # once on all rows, once on the determinism sample


def test_lightgbm_sklearn_wrapper(data):
    lgb = pytest.importorskip("lightgbm")
    model = lgb.LGBMClassifier(n_estimators=20, verbose=-1, random_state=0).fit(data[["x0", "x1"]], data["y"])
    r = audit.run_audit(model, data, label="y", positive_label="hired", protected=["g"], n_bootstrap=0)
    pos = list(model.classes_).index("hired")
    proba = model.predict_proba(data[["x0", "x1"]])[:, pos]
    from sklearn.metrics import roc_auc_score

    m = r.metrics
    auc = m[(m.attribute == "(overall)") & (m.metric == "roc_auc")]["value"].iloc[0]
    assert auc == pytest.approx(roc_auc_score(data["y"] == "hired", proba), abs=1e-12)
    assert r.model.method == "predict_proba" and r.model.deterministic is True


def test_single_class_labels_still_audit(data):
    one = data[data["y"] == "hired"]
    model = LogisticRegression().fit(data[["x0", "x1"]], data["y"])  # predicts both classes
    r = audit.run_audit(model, one, label="y", positive_label="hired", protected=["g"], n_bootstrap=0)
    m = r.metrics
    spec = m[(m.attribute == "(overall)") & (m.metric == "specificity")].iloc[0]
    assert spec["status"] == "undefined" and "no actual negatives" in spec["reason"]
    ones = pd.DataFrame({"g": ["a", "b"] * 20, "y": 1, "p": [0, 1] * 20})
    r = audit.run_audit(None, ones, label="y", protected=["g"], predictions="p", n_bootstrap=0)
    rec = r.metrics[(r.metrics.attribute == "(overall)") & (r.metrics.metric == "recall")]["value"].iloc[0]
    assert rec == 0.5
