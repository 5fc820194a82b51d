"""Issue 17's findings, each a regression test that failed before its fix: the mitigation section in the favourable
frame, explanations of native-categorical models, what-if remedies with tiny groups, input and output edges."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import audit
from audit.datasets import load_compas

COMPAS_FEATURES = ["age", "priors_count", "c_charge_degree", "juv_fel_count"]


@pytest.fixture(scope="module")
def compas_split():
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    df = load_compas()
    idx = np.random.default_rng(0).permutation(len(df))
    train, test = df.iloc[idx[:4000]], df.iloc[idx[4000:]]
    pre = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_exclude="number")),
                                  remainder="passthrough")
    model = make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(train[COMPAS_FEATURES], train["two_year_recid"])
    return model, train, test


# -- mitigation in the favourable frame ---------------------------------------------------------------------------

@pytest.mark.parametrize("favorable", [False, True])
def test_mitigation_before_equals_the_disparities_table_in_both_frames(compas_split, favorable):
    model, train, test = compas_split
    r = audit.run_audit(model, test, label="two_year_recid", positive_label=1, favorable=favorable,
                        protected=["race"], features=COMPAS_FEATURES, train_data=train,
                        mitigate={"attributes": ["race"]}, n_bootstrap=100)
    sec = r.section("mitigation")
    main = r.disparities
    main = main[main.comparison == "vs_reference"]
    compared = 0
    for name in ("changes", "what_if"):
        t = sec.table(name).to_frame()
        if name == "what_if":
            t = t[t.remedy == t.remedy.iloc[0]]
        t = t[t.attribute == "race"]
        for metric in sorted(set(t.metric) & set(main.metric)):
            a = main[main.metric == metric].set_index("group")["value"].astype(float)
            b = t[t.metric == metric].set_index("group")["before"].astype(float).reindex(a.index)
            assert np.array_equal(a.to_numpy(), b.to_numpy(), equal_nan=True), (name, metric, a, b)
            compared += 1
    assert compared >= 9
    # the performance rows stay in the positive-label frame, like the metrics table
    ch = sec.table("changes").to_frame()
    sel = ch[(ch.metric == "selection_rate") & (ch.attribute == "race")].set_index("group")["before"]
    m = r.metrics
    m = m[(m.metric == "selection_rate") & (m.attribute == "race")].set_index("group")["value"]
    assert np.allclose(sel.reindex(m.index).to_numpy(dtype=float), m.to_numpy(dtype=float))
    # the finding sentence reads in the favourable frame too
    row = ch[(ch.metric == "demographic_parity_difference") & (ch.attribute == "race")]
    worst = row.loc[row.before.abs().idxmax()]
    assert f"from {worst.before:.3f}" in sec.get("finding")


@pytest.mark.parametrize("how", ["no_train_data", "no_sample_weight"])
def test_html_of_a_mitigation_without_a_refit_renders(compas_split, how, tmp_path):
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    model, train, test = compas_split
    kw: dict = {}
    if how == "no_sample_weight":
        model = make_pipeline(model[:-1], KNeighborsClassifier(15)).fit(train[COMPAS_FEATURES],
                                                                       train["two_year_recid"])
        kw["train_data"] = train
    r = audit.run_audit(model, test, label="two_year_recid", positive_label=1, favorable=False, protected=["race"],
                        features=COMPAS_FEATURES, mitigate=True, n_bootstrap=100, **kw)
    sec = r.section("mitigation")
    assert not sec.get("refit") and sec.table("what_if") is not None
    html = r.to_html()
    assert "What if: remedies" in html
    # and from the stored result, as `audit report` reads it
    r.to_json(tmp_path / "r.json")
    again = audit.AuditResult.from_json(tmp_path / "r.json")
    again.to_html(tmp_path / "again.html")
    assert "What if: remedies" in (tmp_path / "again.html").read_text()


# -- text outputs --------------------------------------------------------------------------------------------------

def test_line_and_paragraph_separators_are_escaped_in_text_outputs():
    from audit.report.text import visible

    assert visible("a\u2028b\u2029c") == "a\\u2028b\\u2029c"
    rng = np.random.default_rng(1)
    n = 400
    df = pd.DataFrame({"g": rng.choice(["x\u2028y", "p\u2029q"], n), "y": rng.integers(0, 2, n)})
    df["s"] = rng.random(n)
    r = audit.run_audit(None, df, label="y", protected="g", scores="s", n_bootstrap=0)
    from audit.report.markdown import render_markdown

    for text in (r.summary(), render_markdown(r)):
        assert "\u2028" not in text and "\u2029" not in text
