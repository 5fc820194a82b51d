"""Issue 20's core, the multiclass statistic (``audit.stats.classes``): true x predicted class tables per finest
group through the core's partitions; one-vs-rest rates per class and group equal to a pandas computation and to
Fairlearn's ``MetricFrame`` on one-vs-rest labels (Adult's relationship, predicted from the other columns); the
favourable-class table equal to the binary counts; signed per-class disparities and the worst class."""

from __future__ import annotations

import numpy as np
import pytest

from audit._context import build_context
from audit._model import ModelOutput, describe
from audit._validation import validate_inputs
from audit.config import AuditConfig
from audit.stats.classes import ClassTable, class_disparities, class_metrics, favorable_counts


@pytest.fixture(scope="module")
def adult_relationship():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from audit.datasets import load_adult

    train, test = load_adult("train"), load_adult("test")
    cols = ["age", "education_num", "hours_per_week", "capital_gain"]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(train[cols], train["relationship"])
    classes = list(clf.classes_) + ["Ward"]  # a class the model knows and the data never holds
    test = test.assign(pred=clf.predict(test[cols]))
    return test, classes


def _same(a, b) -> bool:
    return bool(np.isnan(a) and np.isnan(b)) or abs(float(a) - float(b)) <= 1e-12


def _context(df, stat, n_boot=0):
    cfg = AuditConfig(n_bootstrap=n_boot)
    inputs = validate_inputs(df, label="income", positive_label=">50K", favorable=True, protected=["sex", "race"],
                             reference=None, features=[], model_features=None, predictions=None, scores=None,
                             config=cfg)
    out = ModelOutput(np.zeros(len(df), dtype=np.int8), None, None, "precomputed", describe(None), None, None)
    return build_context(inputs, out, cfg, statistics=[stat])


def test_per_class_rates_equal_pandas_and_fairlearn(adult_relationship):
    from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
    from sklearn.metrics import precision_score

    df, classes = adult_relationship
    code = {c: k for k, c in enumerate(classes)}
    stat = ClassTable(df["relationship"].map(code), df["pred"].map(code), len(classes))
    ctx = _context(df, stat)
    sex = next(p for p in ctx.partitions if p.attribute == "sex")
    m = class_metrics(sex.stats["classes"][0])
    for k, cls in enumerate(classes):
        y, p = (df["relationship"] == cls).astype(int), (df["pred"] == cls).astype(int)
        if y.sum() == 0:  # the class absent from the data: undefined where its members are needed
            assert np.isnan(m["recall"][:, k]).all() and np.allclose(m["base_rate"][:, k], 0)
            continue
        frame = MetricFrame(metrics={"selection_rate": selection_rate, "recall": true_positive_rate,
                                     "fpr": false_positive_rate,
                                     "precision": lambda a, b: precision_score(a, b, zero_division=np.nan)},
                            y_true=y, y_pred=p, sensitive_features=df["sex"])
        for g, group in enumerate(sex.groups):
            rows = df["sex"].astype(str) == group
            mine = {name: m[name][g, k] for name in ("selection_rate", "recall", "fpr", "precision")}
            assert _same(mine["selection_rate"], p[rows].mean())  # pandas
            assert _same(mine["recall"], p[rows & (y == 1)].mean() if (rows & (y == 1)).any() else np.nan)
            need = {"selection_rate": rows, "recall": rows & (y == 1), "fpr": rows & (y == 0),
                    "precision": rows & (p == 1)}
            for name, value in mine.items():  # fairlearn, one vs rest
                if not need[name].any():  # undefined here, never a silent 0 (fairlearn reports 0 for recall)
                    assert np.isnan(value), name
                    continue
                assert _same(value, frame.by_group.loc[group, name]), name
    # the overall partition sums every group; each table holds every row once
    overall = ctx.partitions[0].stats["classes"][0]
    assert overall.sum() == len(df) and overall.shape == (1, len(classes), len(classes))


def test_favourable_classes_give_the_binary_table_and_signed_disparities(adult_relationship):
    from audit.stats.counts import count_metrics

    df, classes = adult_relationship
    code = {c: k for k, c in enumerate(classes)}
    stat = ClassTable(df["relationship"].map(code), df["pred"].map(code), len(classes))
    ctx = _context(df, stat, n_boot=200)
    sex = next(p for p in ctx.partitions if p.attribute == "sex")
    tables, reps = sex.stats["classes"]
    assert reps.shape == (200,) + tables.shape and np.all(reps.sum((-2, -1)) == tables.sum((-2, -1)))
    fav = [code["Husband"], code["Wife"]]
    counts = favorable_counts(tables, fav)
    for g, group in enumerate(sex.groups):
        rows = df["sex"].astype(str) == group
        y, p = df["relationship"][rows].isin(["Husband", "Wife"]), df["pred"][rows].isin(["Husband", "Wife"])
        assert list(counts[g]) == [int((~y & ~p).sum()), int((~y & p).sum()), int((y & ~p).sum()),
                                   int((y & p).sum())]
    rates = count_metrics(counts, ("selection_rate",))["selection_rate"]
    assert np.allclose(rates, class_metrics(tables)["selection_rate"][:, fav].sum(1))
    ref = sex.groups.index("Male")
    d = class_disparities(tables, ref, favorable=fav)
    sel = class_metrics(tables)["selection_rate"]
    g = 1 - ref
    husband = code["Husband"]  # favourable: a group predicted Husband less often fares worse (negative)
    assert d["demographic_parity_difference"][g, husband] == pytest.approx(sel[g, husband] - sel[ref, husband])
    own = code["Own-child"]  # unfavourable: signed the other way
    assert d["demographic_parity_difference"][g, own] == pytest.approx(sel[ref, own] - sel[g, own])
    assert np.allclose(d["demographic_parity_difference"][ref][np.isfinite(d["demographic_parity_difference"][ref])], 0)
    worst = d["worst_class"][g]
    gaps = np.abs(d["demographic_parity_difference"][g])
    assert gaps[worst] == np.nanmax(gaps)
    plain = class_disparities(tables, ref)  # no favourable classes: group minus reference
    assert plain["demographic_parity_difference"][g, own] == pytest.approx(sel[g, own] - sel[ref, own])
    with pytest.raises(ValueError, match="predicted class codes must lie in 0..2"):
        ClassTable([0, 1], [0, 3], 3)
