"""Every metric that scikit-learn, fairlearn or aif360 also computes agrees to 1e-9 on real data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

import audit
from tests.conftest import value

TOL = 1e-9


@pytest.fixture(scope="module")
def adult_result(adult_scored):
    return audit.run_audit(None, adult_scored, label="income", positive_label=">50K", protected=["sex", "race"],
                           scores="score", n_bootstrap=200)


def _groups(df: pd.DataFrame, attr: str):
    for g, part in df.groupby(attr, observed=True):
        yield str(g), part


@pytest.mark.parametrize("attr", ["sex", "race"])
def test_performance_matches_scikit_learn(adult_result, adult_scored, attr):
    m = adult_result.metrics
    for g, part in [("all", adult_scored), *_groups(adult_scored, attr)]:
        a = "(overall)" if g == "all" else attr
        y = (part["income"] == ">50K").to_numpy().astype(int)
        s = part["score"].to_numpy()
        p = (s >= 0.5).astype(int)
        expected = {
            "accuracy": skm.accuracy_score(y, p),
            "balanced_accuracy": skm.balanced_accuracy_score(y, p),
            "precision": skm.precision_score(y, p, zero_division=np.nan),
            "recall": skm.recall_score(y, p),
            "f1": skm.f1_score(y, p),
            "roc_auc": skm.roc_auc_score(y, s),
            "average_precision": skm.average_precision_score(y, s),
            "brier": skm.brier_score_loss(y, s),
            "log_loss": skm.log_loss(y, s),
            "selection_rate": p.mean(),
            "base_rate": y.mean(),
        }
        tn, fp, fn, tp = skm.confusion_matrix(y, p, labels=[0, 1]).ravel()
        expected.update(specificity=tn / (tn + fp), fpr=fp / (fp + tn), fnr=fn / (fn + tp), npv=tn / (tn + fn))
        for name, want in expected.items():
            got = value(m, attribute=a, group=g, metric=name)
            assert got == pytest.approx(want, abs=TOL), (a, g, name)


def test_ece_matches_calibration_curve(adult_result, adult_scored):
    from sklearn.calibration import calibration_curve

    for g, part in _groups(adult_scored, "sex"):
        y = (part["income"] == ">50K").to_numpy().astype(int)
        s = part["score"].to_numpy()
        prob_true, prob_pred = calibration_curve(y, s, n_bins=10, strategy="uniform")
        bins = np.searchsorted(np.linspace(0, 1, 11)[1:-1], s)
        counts = np.bincount(bins, minlength=10)
        counts = counts[counts > 0]
        ece = float(np.sum(counts / len(s) * np.abs(prob_true - prob_pred)))
        assert value(adult_result.metrics, attribute="sex", group=g, metric="ece") == pytest.approx(ece, abs=TOL)


def test_fairlearn_metricframe_by_group_and_intersection(adult_result, adult_scored):
    fl = pytest.importorskip("fairlearn.metrics")
    y = (adult_scored["income"] == ">50K").astype(int)
    p = (adult_scored["score"] >= 0.5).astype(int)
    mf = fl.MetricFrame(
        metrics={"selection_rate": fl.selection_rate, "recall": fl.true_positive_rate,
                 "fpr": fl.false_positive_rate, "fnr": fl.false_negative_rate,
                 "accuracy": skm.accuracy_score},
        y_true=y, y_pred=p, sensitive_features=adult_scored[["sex", "race"]])
    by = mf.by_group
    for (sex, race), row in by.iterrows():
        for name in row.index:
            got = value(adult_result.metrics, attribute="sex & race", group=f"{sex} & {race}", metric=name)
            assert got == pytest.approx(row[name], abs=TOL), (sex, race, name)
    d = adult_result.disparities
    for attr in ("sex", "race"):
        sf = adult_scored[attr]
        want_dpd = fl.demographic_parity_difference(y, p, sensitive_features=sf)
        want_dpr = fl.demographic_parity_ratio(y, p, sensitive_features=sf)
        want_eod = fl.equalized_odds_difference(y, p, sensitive_features=sf)
        assert value(d, attribute=attr, comparison="max_gap", metric="demographic_parity_difference") == \
            pytest.approx(want_dpd, abs=TOL)
        assert value(d, attribute=attr, comparison="max_gap", metric="demographic_parity_ratio") == \
            pytest.approx(want_dpr, abs=TOL)
        assert value(d, attribute=attr, comparison="max_gap", metric="equalized_odds_difference") == \
            pytest.approx(want_eod, abs=TOL)


def _aif360_metrics(y_fav: np.ndarray, p_fav: np.ndarray, member: np.ndarray, ref: np.ndarray):
    """aif360 ClassificationMetric on an all-numeric frame: group (unprivileged) vs reference (privileged)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from aif360.datasets import BinaryLabelDataset
        from aif360.metrics import BinaryLabelDatasetMetric, ClassificationMetric

    keep = member | ref
    frame = pd.DataFrame({"label": y_fav[keep].astype(float), "grp": ref[keep].astype(float)})
    truth = BinaryLabelDataset(df=frame, label_names=["label"], protected_attribute_names=["grp"],
                               favorable_label=1.0, unfavorable_label=0.0)
    pred = truth.copy(deepcopy=True)
    pred.labels = p_fav[keep].astype(float).reshape(-1, 1)
    groups = dict(unprivileged_groups=[{"grp": 0.0}], privileged_groups=[{"grp": 1.0}])
    return ClassificationMetric(truth, pred, **groups), BinaryLabelDatasetMetric(truth, **groups)


def _check_against_aif360(result, df: pd.DataFrame, label: str, positive, favorable: bool, attr: str):
    d = result.disparities
    y = (df[label] == positive).to_numpy()
    p = (df["score"] >= 0.5).to_numpy()
    y_fav, p_fav = (y, p) if favorable else (~y, ~p)
    ref_name = dict(result.references)[attr]
    ref = (df[attr].astype(str) == ref_name).to_numpy()
    checked = 0
    for g in sorted(df[attr].astype(str).unique()):
        if g == ref_name:
            continue
        member = (df[attr].astype(str) == g).to_numpy()
        cm, dm = _aif360_metrics(y_fav, p_fav, member, ref)
        # one sign convention: negative = the group fares worse. fpr/fnr are the metrics table's positive-label
        # rates, signed by whether a wrong positive helps (favourable positive label) or harms the person
        pos_fpr = lambda m: (p[m & ~y]).mean()  # noqa: E731
        pos_fnr = lambda m: (~p[m & y]).mean()  # noqa: E731
        sign = 1.0 if favorable else -1.0
        pairs = {
            "demographic_parity_difference": cm.statistical_parity_difference(),
            "demographic_parity_ratio": cm.disparate_impact(),
            "equal_opportunity_difference": cm.equal_opportunity_difference(),
            "average_odds_difference": cm.average_odds_difference(),
            "fpr_difference": sign * (pos_fpr(member) - pos_fpr(ref)),
            "fnr_difference": -sign * (pos_fnr(member) - pos_fnr(ref)),
            "accuracy_difference": cm.accuracy(privileged=False) - cm.accuracy(privileged=True),
            "predictive_parity_difference": cm.positive_predictive_value(privileged=True)
            - cm.positive_predictive_value(privileged=False),
            "equalized_odds_difference": min(cm.true_positive_rate_difference(),
                                             cm.false_positive_rate_difference()),
            "base_rate_difference": dm.statistical_parity_difference(),
            "base_rate_ratio": dm.disparate_impact(),
        }
        # the same in aif360's favourable-frame terms: fpr/fnr are its TPR/FPR differences, by frame
        if favorable:
            assert pairs["fpr_difference"] == pytest.approx(cm.false_positive_rate_difference(), abs=TOL)
            assert pairs["fnr_difference"] == pytest.approx(-cm.false_negative_rate_difference(), abs=TOL)
        else:
            assert pairs["fpr_difference"] == pytest.approx(cm.true_positive_rate_difference(), abs=TOL)
            assert pairs["fnr_difference"] == pytest.approx(cm.false_positive_rate_difference(), abs=TOL)
        for name, want in pairs.items():
            rows = d[(d.attribute == attr) & (d.group == g) & (d.metric == name)]
            got = rows["value"].iloc[0]
            if not np.isfinite(want):
                assert rows["verdict"].iloc[0] == "undefined", (attr, g, name)
                continue
            assert got == pytest.approx(want, abs=TOL), (attr, g, name)
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("attr", ["sex", "race"])
def test_adult_disparities_match_aif360(adult_result, adult_scored, attr):
    _check_against_aif360(adult_result, adult_scored, "income", ">50K", True, attr)


@pytest.mark.parametrize("attr", ["race", "sex"])
def test_compas_unfavourable_positive_matches_aif360(compas_scored, attr):
    result = audit.run_audit(None, compas_scored, label="two_year_recid", positive_label=1, favorable=False,
                             protected=["race", "sex"], scores="score", n_bootstrap=0)
    _check_against_aif360(result, compas_scored, "two_year_recid", 1, False, attr)
    # reference group: the highest rate of the favourable outcome (low risk), as the four-fifths rule asks
    g = result.groups
    rates = g[g.attribute == attr].set_index("group")["favorable_rate"]
    assert dict(result.references)[attr] == rates.idxmax()


@pytest.mark.parametrize("attr", ["sex", "age_group"])
def test_german_matches_aif360_and_sklearn(german_scored, attr):
    result = audit.run_audit(None, german_scored, label="credit", positive_label="good", protected=["sex", "age_group"],
                             scores="score", n_bootstrap=0)
    _check_against_aif360(result, german_scored, "credit", "good", True, attr)
    for g, part in _groups(german_scored, attr):
        y = (part["credit"] == "good").astype(int)
        assert value(result.metrics, attribute=attr, group=g, metric="roc_auc") == pytest.approx(
            skm.roc_auc_score(y, part["score"]), abs=TOL)
