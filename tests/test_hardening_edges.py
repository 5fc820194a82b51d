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
    rows = ch[(ch.metric == "demographic_parity_difference") & (ch.attribute == "race")]
    finding = r.mitigation_finding
    named = [x for x in rows.itertuples() if f"of race: {x.group} vs {x.reference} from {x.before:.3f}" in finding]
    assert len(named) == 1, finding


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


# -- explanations: every part on its own -----------------------------------------------------------------------------

SMALL_EXPLAIN = {"rows": 200, "agnostic_rows": 60, "background": 30, "lime_cases": 1, "lime_samples": 200,
                 "lime_seeds": 2, "proxy_rows": 600}


def _parts_present(sec) -> None:
    assert not sec.get("failed_parts")
    for name in ("shap_importance", "shap_by_group", "gap_attribution", "lime_cases", "proxy_auc", "proxies"):
        assert len(sec.table(name)) > 0, name


def test_native_categorical_gradient_boosting_is_explained():
    from sklearn.ensemble import HistGradientBoostingClassifier

    df = load_compas().iloc[:1500].copy()
    feats = ["age", "priors_count", "c_charge_degree", "race", "sex"]
    for c in ("c_charge_degree", "race", "sex"):
        df[c] = df[c].astype("category")
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", max_iter=30, random_state=0)
    model.fit(df[feats], df["two_year_recid"])
    r = audit.run_audit(model, df, label="two_year_recid", positive_label=1, favorable=False, protected=["race"],
                        features=feats, explain={**SMALL_EXPLAIN, "agnostic_rows": 24, "small_group": 3},
                        n_bootstrap=100)
    assert not r.errors
    sec = r.section("explanations")
    _parts_present(sec)
    assert sec.get("explainer").startswith("model-agnostic SHAP values (permutation sampling)")
    assert any("native categorical" in n for n in sec.get("notes"))
    assert set(sec.table("shap_importance").to_frame().feature) == set(feats)


def test_an_all_missing_feature_keeps_every_part():
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(0)
    n = 800
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "empty": np.nan,
                       "sex": rng.choice(["f", "m"], n)})
    df["y"] = (df.a + rng.normal(size=n) > 0).astype(int)
    feats = ["a", "b", "empty"]
    pipe = make_pipeline(SimpleImputer(), LogisticRegression()).fit(df[feats], df.y)

    def fn(X: pd.DataFrame) -> np.ndarray:
        return 1 / (1 + np.exp(-X["a"].to_numpy()))

    for model in (pipe, fn):
        r = audit.run_audit(model, df, label="y", protected="sex", features=feats, explain=SMALL_EXPLAIN,
                            n_bootstrap=100)
        assert not r.errors and not r.warnings
        sec = r.section("explanations")
        _parts_present(sec)
        assert "empty" not in set(sec.table("lime_cases").to_frame().feature)
        prox = sec.table("proxies").to_frame().set_index("feature")
        assert prox.loc["empty", "association"] != prox.loc["empty", "association"]  # None: not measured
        assert "no values" in prox.loc["empty", "measure"]
        assert "without values" in sec.table("proxy_auc").records()[0]["reason"]


def test_lime_conditions_belong_to_their_feature_with_integer_column_names():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    n = 1200
    X = pd.DataFrame(rng.normal(size=(n, 10)))
    y = (2 * X[0] + X[3] + rng.normal(size=n) > 0).astype(int)
    df = X.copy()
    df["y"], df["sex"] = y, rng.choice(["f", "m"], n)
    r = audit.run_audit(LogisticRegression().fit(X, y), df, label="y", protected="sex", features=list(range(10)),
                        explain={**SMALL_EXPLAIN, "lime_cases": 3}, n_bootstrap=100)
    cases = r.section("explanations").table("lime_cases").records()
    assert len(cases) >= 5
    for c in cases:  # lime writes "a < f <= b", "f > a" or "f <= b": the feature is the condition's own variable
        tokens = c["condition"].replace("<=", " ").replace("<", " ").replace(">", " ").split()
        names = [t for t in tokens if t.isdigit()]
        assert names == [c["feature"]], c


def test_a_feature_named_like_the_total_row_is_told_apart():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(2)
    n = 1000
    df = pd.DataFrame({"(total gap)": rng.normal(size=n), "b": rng.normal(size=n), "sex": rng.choice(["f", "m"], n)})
    df["(total gap)"] += (df.sex == "m")
    df["y"] = (df["(total gap)"] + rng.normal(size=n) > 0.5).astype(int)
    feats = ["(total gap)", "b"]
    r = audit.run_audit(LogisticRegression().fit(df[feats], df.y), df, label="y", protected="sex", features=feats,
                        explain={**SMALL_EXPLAIN, "lime_cases": 0, "proxy": False}, n_bootstrap=100)
    gaps = r.section("explanations").table("gap_attribution").to_frame()
    for _, g in gaps.groupby(["attribute", "group", "population"]):
        assert int(g.total.sum()) == 1
        assert np.isclose(g[~g.total].contribution.sum(), g[g.total].contribution.iloc[0])
        assert (g[~g.total].feature == "(total gap)").sum() == 1  # the user's column, once

    assert r.to_html()  # renders


def test_one_failing_part_keeps_the_others_and_is_reported_everywhere(monkeypatch):
    import audit.explain._lime as lime_mod
    from sklearn.linear_model import LogisticRegression

    def broken(*a, **k):
        raise RuntimeError("lime broke")

    monkeypatch.setattr(lime_mod, "explain_cases", broken)
    rng = np.random.default_rng(3)
    n = 800
    df = pd.DataFrame({"a": rng.normal(size=n), "sex": rng.choice(["f", "m"], n)})
    df["y"] = (df.a + rng.normal(size=n) > 0).astype(int)
    r = audit.run_audit(LogisticRegression().fit(df[["a"]], df.y), df, label="y", protected="sex", features=["a"],
                        explain=SMALL_EXPLAIN, n_bootstrap=100)
    sec = r.section("explanations")
    assert [f["part"] for f in sec.get("failed_parts")] == ["LIME cases"]
    assert len(sec.table("shap_importance")) and len(sec.table("gap_attribution")) and len(sec.table("proxy_auc"))
    assert len(sec.table("lime_cases")) == 0
    assert any("lime broke" in w for w in r.warnings)
    from audit.gate import Policy, evaluate
    from audit.report.junit import render_junit
    from audit.report.markdown import render_markdown

    policy = Policy.from_toml('[[rules]]\nmetric = "accuracy"\nscope = "overall"\nmin = 0.0\nmode = "point"\n')
    gate = evaluate(r, policy)
    assert any("LIME cases" in n for n in gate.notes)
    for text in (r.summary(), render_markdown(r, gate), render_junit(r, gate), r.to_html()):
        assert "lime broke" in text
    with pytest.raises(RuntimeError, match="lime broke"):
        audit.run_audit(LogisticRegression().fit(df[["a"]], df.y), df, label="y", protected="sex", features=["a"],
                        explain=SMALL_EXPLAIN, n_bootstrap=100, strict=True)


# -- mitigation: remedies, options, training data --------------------------------------------------------------------

def _tiny_group_frame(seed: int = 0) -> pd.DataFrame:
    """Like ISLR::Wage by race: a group of 11 rows with one positive."""
    rng = np.random.default_rng(seed)
    race = np.r_[["White"] * 700, ["Black"] * 100, ["Asian"] * 89, ["Other"] * 11]
    y = rng.integers(0, 2, len(race))
    y[race == "Other"] = 0
    y[np.flatnonzero(race == "Other")[0]] = 1
    s = np.clip(rng.random(len(race)) * 0.6 + y * 0.3 + (race == "White") * 0.1, 0, 1)
    return pd.DataFrame({"race": race, "y": y, "s": s})


def test_remedies_survive_a_group_that_cannot_be_fitted():
    df = _tiny_group_frame()
    r = audit.run_audit(None, df, label="y", protected="race", scores="s", mitigate={"splits": 1}, n_bootstrap=100)
    sec = r.section("mitigation")
    w = sec.table("what_if").to_frame()
    assert set(w.remedy) == {"group thresholds: demographic parity", "group thresholds: equalized odds"}
    notes = " ".join(sec.get("remedy_notes"))
    assert "leave out the pooled small groups (Other)" in notes and "keep the audited model's decisions" in notes
    # the left-out group keeps its decisions: its selection rate does not move under any remedy
    for remedy, rows in w[w.group == "Other"].groupby("remedy"):
        d = rows.set_index("metric").loc["demographic_parity_difference"]
        q = rows.set_index("metric").loc["demographic_parity_ratio"]
        # rate = ratio x reference rate, reference rate = difference / (ratio - 1)
        own = [q[k] * d[k] / (q[k] - 1) for k in ("before", "after")]
        assert own[0] == pytest.approx(own[1], abs=1e-9), remedy
    # the fitted groups move towards parity
    black = w[(w.group == "Black") & (w.metric == "demographic_parity_difference")
              & (w.remedy == "group thresholds: demographic parity")].iloc[0]
    assert abs(black.after) < abs(black.before)


def test_what_if_after_values_cover_the_spread_of_cross_fit_splits(adult_scored):
    df = adult_scored.iloc[:6000]
    one = audit.run_audit(None, df, label="income", positive_label=">50K", protected="sex", scores="score",
                          mitigate={"splits": 1}, n_bootstrap=200)
    many = audit.run_audit(None, df, label="income", positive_label=">50K", protected="sex", scores="score",
                           mitigate={"splits": 8}, n_bootstrap=200)
    w1 = one.section("mitigation").frame("what_if").set_index(["remedy", "attribute", "group", "metric"])
    w8 = many.section("mitigation").frame("what_if").set_index(["remedy", "attribute", "group", "metric"])
    assert (w1.after_min == w1.after_max).all()  # one split: no spread to show
    spread = w8.after_max - w8.after_min
    assert (spread > 0).any()
    assert ((w8.after_min <= w8.after) & (w8.after <= w8.after_max)).all()
    shown = w8.after_low.notna()
    assert ((w8.after_low[shown] <= w8.after_min[shown]) & (w8.after_max[shown] <= w8.after_high[shown])).all()
    # the first split of many is the single split of one
    assert np.allclose(w1.before, w8.before.reindex(w1.index))
    # the mean over splits, not one draw
    k = ("group thresholds: demographic parity", "(overall)", "all", "accuracy")
    assert w8.loc[k].after_min < w8.loc[k].after < w8.loc[k].after_max


@pytest.mark.parametrize("value, match", [({"attributes": ["race", "race"]}, "more than once"),
                                          ({"splits": 0}, "splits"), ({"splits": 2.5}, "splits")])
def test_bad_mitigate_options_are_configuration_errors(value, match):
    from audit.exceptions import ConfigError

    with pytest.raises(ConfigError, match=match):
        audit.run_audit(None, _tiny_group_frame(), label="y", protected="race", scores="s", mitigate=value,
                        n_bootstrap=0)


def test_training_data_as_a_csv_path_and_a_group_absent_from_it(compas_split, tmp_path):
    model, train, test = compas_split
    path = tmp_path / "train.csv"
    train[train.race != "Native American"].to_csv(path, index=False)
    r = audit.run_audit(model, test, label="two_year_recid", positive_label=1, favorable=False, protected=["race"],
                        features=COMPAS_FEATURES, train_data=str(path), mitigate=True, n_bootstrap=100)
    assert not r.errors
    sec = r.section("mitigation")
    assert sec.get("refit") is True and sec.get("n_train") == int((train.race != "Native American").sum())
    assert list(sec.get("absent_from_training")) == ["Native American"]
    assert any("Native American" in w and "no rows in the training data" in w for w in r.warnings)
    assert r.section("training_data") is not None
    assert "no rows in the training data" in r.to_html()


def test_xgboost_float32_probabilities_keep_the_log_odds_space():
    import xgboost

    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame({"a": rng.normal(size=n) * 3, "b": rng.normal(size=n), "sex": rng.choice(["f", "m"], n)})
    df["y"] = (df.a + 0.3 * rng.normal(size=n) > 0).astype(int)
    model = xgboost.XGBClassifier(n_estimators=200, max_depth=4, n_jobs=1).fit(df[["a", "b"]], df.y)
    p = model.predict_proba(df[["a", "b"]])[:, 1]
    assert p.dtype == np.float32 and p.max() > 0.999  # float32 probabilities near 1: the case that failed
    r = audit.run_audit(model, df, label="y", protected="sex", features=["a", "b"],
                        explain={"rows": 300, "lime_cases": 0, "proxy": False}, n_bootstrap=100)
    assert r.section("explanations").get("output_space") == "log-odds margin"


# -- data an engine holds: one-line data errors naming the file or column ---------------------------------------------

@pytest.fixture(scope="module")
def engine_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("engine")
    rng = np.random.default_rng(0)
    n = 500
    df = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "y": rng.integers(0, 2, n), "s": rng.random(n)})
    df.to_parquet(d / "a.parquet")
    ints = df.assign(sex=(df.sex == "F").astype(int))
    ints.to_parquet(d / "b.parquet")
    (d / "bad.parquet").write_bytes(b"not a parquet file")
    df.iloc[:0].to_parquet(d / "empty.parquet")
    df.assign(s=df.s.astype(str)).to_parquet(d / "text_score.parquet")
    df.rename(columns={"s": "score"}).to_parquet(d / "renamed.parquet")
    (d / "dir").mkdir()
    df.to_parquet(d / "dir" / "ok.parquet")
    (d / "dir" / "broken.parquet").write_bytes(b"PAR1 but not really")
    return d


@pytest.mark.parametrize("path, engine, match", [
    ("bad.parquet", "auto", r"bad\.parquet' is not a readable Parquet file"),
    ("bad.parquet", "duckdb", r"bad\.parquet' is not a readable Parquet file"),
    ("dir", "duckdb", r"broken\.parquet' is not a readable Parquet file"),
    ("empty.parquet", "duckdb", r"empty\.parquet\) has zero rows"),
    ("text_score.parquet", "duckdb", r"scores column 's' holds String values, not numbers"),
    ("[ab].parquet", "duckdb", r"column 'sex' holds text in '.*a\.parquet' and number in '.*b\.parquet'"),
    ("[ar]*.parquet", "duckdb", r"disagree on their columns: '.*renamed\.parquet' lacks \['s'\]; adds \['score'\]"),
])
def test_engine_inputs_give_one_line_data_errors(engine_files, path, engine, match):
    from audit.exceptions import InputError

    with pytest.raises(InputError, match=match) as info:
        audit.run_audit(None, str(engine_files / path), label="y", protected="sex", scores="s", n_bootstrap=0,
                        engine=engine)
    assert "\n" not in str(info.value)


def test_a_closed_duckdb_relation_is_a_data_error(engine_files):
    import duckdb

    from audit.exceptions import InputError

    con = duckdb.connect()
    rel = con.read_parquet(str(engine_files / "a.parquet"))
    con.close()
    with pytest.raises(InputError, match="connection open"):
        audit.run_audit(None, rel, label="y", protected="sex", scores="s", n_bootstrap=0)


def test_a_corrupt_file_is_exit_code_2_naming_it(engine_files, tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "audit", "run", "--data", str(engine_files / "bad.parquet"), "--label",
                          "y", "--protected", "sex", "--scores", "s", "--n-bootstrap", "0", "--json",
                          str(tmp_path / "r.json")], capture_output=True, text=True)
    assert out.returncode == 2 and "bad.parquet" in out.stderr and "internal error" not in out.stderr
    assert not (tmp_path / "r.json").exists()


# -- command line: contradictions and unwritable outputs before any work ----------------------------------------------

@pytest.mark.parametrize("extra, match", [
    (["--no-explain", "--explain-rows", "50"], "--no-explain contradicts --explain-rows"),
    (["--html", "no/such/dir/r.html"], "cannot write --html 'no/such/dir/r.html': its folder"),
    (["--json", "."], "cannot write --json '.': it is a folder"),
    (["--markdown", "missing/summary.md"], "cannot write --markdown"),
])
def test_cli_refuses_contradictions_and_unwritable_outputs_before_the_audit(tmp_path, extra, match):
    from tests.test_cli import cli

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"g": rng.choice(["a", "b"], 300), "y": rng.integers(0, 2, 300), "s": rng.random(300)})
    df.to_csv(tmp_path / "d.csv", index=False)
    r = cli("run", "--data", "d.csv", "--label", "y", "--protected", "g", "--scores", "s", "--n-bootstrap", "0",
            *extra, cwd=tmp_path)
    assert r.returncode == 2
    assert match in r.stderr
    assert "auditing" not in r.stderr  # refused before the audit ran


# -- threads --------------------------------------------------------------------------------------------------------

def test_an_audit_started_from_any_thread_is_bit_identical(adult_scored, adult_model):
    """Issue 17: audits run in threads differed from a sequential one in the last bit of score intervals (a BLAS
    product whose order followed BLAS's thread count, which OpenBLAS ignores when set from a second thread after
    the first restored it). Float sums are now numpy's own, in a fixed order."""
    import threading

    from audit.datasets import ADULT_FEATURES

    df = adult_scored.iloc[:8000]
    kw = dict(label="income", positive_label=">50K", protected=["sex", "race"], n_bootstrap=200)
    ex = {"rows": 200, "lime_cases": 0, "proxy": False}
    first = audit.run_audit(None, df, scores="score", **kw)
    first_ex = audit.run_audit(adult_model, df, features=ADULT_FEATURES, explain=ex, **kw)
    out: dict = {}

    def run(i):
        out[i] = (audit.run_audit(None, df, scores="score", **kw),
                  audit.run_audit(adult_model, df, features=ADULT_FEATURES, explain=ex, **kw))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for plain, explained in out.values():
        for a, b in ((first, plain), (first_ex, explained)):
            assert a.metrics_table == b.metrics_table and a.disparities_table == b.disparities_table
        for name in ("shap_importance", "gap_attribution"):
            assert first_ex.section("explanations").table(name) == explained.section("explanations").table(name)


# -- explanation budgets are bounds on the whole run ------------------------------------------------------------------

def test_allocation_never_exceeds_the_budget():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from audit.modules.explanations import allocate

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.integers(1, 5000), min_size=1, max_size=150), st.integers(1, 3000), st.integers(0, 100))
    def check(sizes, budget, small):
        sizes = np.array(sizes)
        k = allocate(sizes, budget, small)
        assert k.sum() <= budget and (k <= sizes).all() and (k >= 0).all()
        assert k.sum() == min(budget, sizes.sum())  # the budget is used when there are rows to use it on
        floor = np.minimum(sizes, small)
        if floor.sum() <= budget:
            assert (k >= floor).all()  # every group its small share (small groups whole)
        elif budget >= len(sizes):
            assert (k >= 1).all()  # every group represented

    check()


def test_agnostic_rows_bound_the_whole_run_and_the_time_budget_stops_cleanly():
    rng = np.random.default_rng(5)
    n = 3000
    df = pd.DataFrame({"a": rng.choice(list("abcdefghij"), n), "b": rng.choice(list("pqrstuvwxyzk"), n),
                       "x": rng.normal(size=n), "z": rng.normal(size=n)})
    df["y"] = (df.x + rng.normal(size=n) > 0).astype(int)
    calls = {"rows": 0}

    def model(X: pd.DataFrame) -> np.ndarray:
        calls["rows"] += len(X)
        return 1 / (1 + np.exp(-X["x"].to_numpy()))

    kw = dict(label="y", protected=["a", "b"], features=["x", "z"], n_bootstrap=100)
    r = audit.run_audit(model, df, explain={"agnostic_rows": 20, "background": 10, "lime_cases": 0,
                                            "proxy": False}, **kw)
    sec = r.section("explanations")
    alloc = sec.get("allocation")
    assert alloc["groups"] == 120 and alloc["rows"] == 20 and alloc["groups_left_out"] == 100
    assert sec.get("rows_explained") == 20
    assert len(sec.table("shap_by_group")) > 0
    assert any("no explained row" in n for n in sec.get("notes"))

    r = audit.run_audit(model, df, explain={"agnostic_rows": 400, "background": 10, "lime_cases": 0,
                                            "proxy": False, "agnostic_seconds": 1e-6}, **kw)
    sec = r.section("explanations")
    assert sec.get("rows_explained") == 8  # one call of the explainer, then the budget was spent
    assert any("time budget" in n for n in sec.get("notes"))
    gaps = sec.table("gap_attribution").to_frame()
    for _, g in gaps.groupby(["attribute", "group", "population"]):
        assert np.isclose(g[~g.total].contribution.sum(), g[g.total].contribution.iloc[0])
    from audit.exceptions import ConfigError

    with pytest.raises(ConfigError, match="agnostic_seconds"):
        audit.run_audit(model, df, explain={"agnostic_seconds": 0}, **kw)


# -- issue 23: a stored result cannot pass the gate by accident ----------------------------------------------------

@pytest.fixture(scope="module")
def explained_json(tmp_path_factory):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(9)
    n = 800
    df = pd.DataFrame({"a": rng.normal(size=n), "sex": rng.choice(["f", "m"], n)})
    df["y"] = (df.a + rng.normal(size=n) > 0).astype(int)
    r = audit.run_audit(LogisticRegression().fit(df[["a"]], df.y), df, label="y", protected="sex", features=["a"],
                        explain={**SMALL_EXPLAIN, "lime_cases": 0}, n_bootstrap=100)
    d = tmp_path_factory.mktemp("stored")
    (d / "proxy.toml").write_text('[[rules]]\\nmetric = "proxy_auc"\\nmax = 0.7\\non_inconclusive = "warn"\\n')
    return d, r.to_json()


@pytest.mark.parametrize("auc, match", [("NaN", "a number or null"), ('"0.5"', "a number or null"),
                                        ("Infinity", "a number or null"), (None, "the columns")])
def test_section_tables_are_type_checked_on_load(explained_json, auc, match):
    import json

    from audit.exceptions import InputError

    d, text = explained_json
    data = json.loads(text)
    t = data["sections"]["explanations"]["tables"]["proxy_auc"]
    k = t["columns"].index("auc")
    if auc is None:  # the column is missing
        t["columns"].pop(k)
        for row in t["rows"]:
            row.pop(k)
        doc = json.dumps(data)
    else:
        for row in t["rows"]:
            row[k] = "__AUC__"
        doc = json.dumps(data).replace('"__AUC__"', auc)
    (d / "bad.json").write_text(doc)
    with pytest.raises(InputError, match=match) as e:
        audit.AuditResult.from_json(d / "bad.json")
    assert "proxy_auc" in str(e.value)
    from tests.test_cli import cli

    r = cli("gate", "bad.json", "--policy", "proxy.toml", cwd=d)
    assert r.returncode == 2 and "internal error" not in r.stderr and "proxy_auc" in r.stderr


def test_an_undefined_value_never_passes_a_rule(explained_json):
    import dataclasses

    from audit.gate import Policy, evaluate
    from audit.results import Section, Table

    d, text = explained_json
    r = audit.AuditResult.from_json(text)
    sec = r.section("explanations")
    t = sec.table("proxy_auc")
    k = t.columns.index("auc")
    nan_rows = tuple(tuple(float("nan") if j == k else v for j, v in enumerate(row)) for row in t.rows)
    tables = tuple((name, Table(t.columns, nan_rows) if name == "proxy_auc" else tab) for name, tab in sec.tables)
    broken = dataclasses.replace(r, sections=tuple(Section(s.name, tables, s.info) if s.name == "explanations" else s
                                                   for s in r.sections))
    policy = Policy.from_toml('[[rules]]\nmetric = "proxy_auc"\nmax = 0.7\non_inconclusive = "warn"\n')
    gate = evaluate(broken, policy)
    assert not gate.passed  # nothing judged: it blocks
    assert gate.rules[0].verdict == "insufficient data"


def _many_strata(n: int = 20000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.integers(0, 40, n).astype(str), "b": rng.integers(0, 25, n).astype(str),
                       "x": rng.normal(size=n)})
    df["y"] = (df.x + rng.normal(size=n) > 0).astype(int)
    df["s"] = 1 / (1 + np.exp(-df.x))
    return df


def test_explanations_at_scale_sample_from_1000_strata_on_duckdb():
    """Issue 23: one nested expression per stratum hit Python's recursion limit from about 400 strata."""
    import duckdb

    df = _many_strata()
    con = duckdb.connect()
    r = audit.run_audit(None, con.from_df(df), label="y", protected=["a", "b"], scores="s", features=["x"],
                        n_bootstrap=0, max_groups=100, intersections=False, explain={"proxy_rows": 300},
                        strict=True)
    sec = r.section("explanations")
    assert sec.get("sample")["rows"] == len(df) and not sec.get("sample")["groups_missing"]
    assert len(sec.table("proxy_auc")) == 2


# -- issue 23: errors from where the data lives ----------------------------------------------------------------------

@pytest.mark.slow
def test_ctrl_c_interrupts_a_duckdb_scan_at_once(tmp_path):
    """Issue 23: SIGINT during a DuckDB scan took effect when the scan ended (12.8 s later), as an internal error.
    A real SIGINT to a real `audit run` on a file DuckDB scans: it stops at once, exit 130, nothing written."""
    import signal
    import subprocess
    import sys
    import time

    import duckdb

    pytest.importorskip("duckdb")
    con = duckdb.connect()
    if not hasattr(con.sql("SELECT 1"), "materialize"):
        pytest.skip("this DuckDB has no Relation.materialize")
    path = tmp_path / "big.parquet"
    con.execute(f"COPY (SELECT (i % 7)::VARCHAR AS g, (hash(i) % 2)::INT AS y, (hash(i * 3) % 1000000) / 1e6 AS s "
                f"FROM range(60000000) t(i)) TO '{path}' (FORMAT parquet)")
    script = (
        "import sys, time, audit._scale.scan as scan\n"
        "orig = scan._to_pandas\n"
        "def slow(lf):\n"
        "    print('SCAN', flush=True)\n"
        "    return orig(lf)\n"
        "scan._to_pandas = slow\n"
        "from audit.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.Popen([sys.executable, "-c", script, "run", "--data", str(path), "--engine", "duckdb",
                             "--label", "y", "--protected", "g", "--scores", "s", "--n-bootstrap", "0",
                             "--json", str(tmp_path / "r.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = 0
    for line in proc.stdout:  # the second query is the grouped scan (the first looks at the first rows)
        seen += line.startswith("SCAN")
        if seen == 2:
            break
    time.sleep(0.3)
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert time.perf_counter() - t0 < 3, "the scan was not interrupted at once"
    assert "interrupted" in err and "internal error" not in err
    assert not (tmp_path / "r.json").exists()


def test_an_interrupted_run_exits_130_and_writes_nothing(tmp_path, monkeypatch, capsys):
    import audit._engine as engine
    from audit.cli import main

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"g": rng.choice(["a", "b"], 300), "y": rng.integers(0, 2, 300), "s": rng.random(300)})
    df.to_csv(tmp_path / "d.csv", index=False)

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "run_audit", interrupted)
    code = main(["run", "--data", str(tmp_path / "d.csv"), "--label", "y", "--protected", "g", "--scores", "s",
                 "--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html")])
    assert code == 130
    assert "interrupted" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


def test_worker_errors_name_the_models_failure():
    from audit._scale.scan import worker_error

    text = ("An exception was thrown from the Python worker. Please see the stack trace below.\n"
            "Traceback (most recent call last):\n  File \"x.py\", line 3, in per_partition\n"
            "ValueError: boom\n\nDuring handling of the above exception, another exception occurred:\n"
            "audit.exceptions.ModelError: the model raised during prediction on 10 rows x 1 feature(s): "
            "ValueError: boom. Check ...\n")
    assert worker_error(text).startswith("the model raised during prediction on 10 rows")
    assert worker_error("Traceback\nZeroDivisionError: division by zero\n") == "ZeroDivisionError: division by zero"


def test_files_that_differ_only_in_width_or_time_unit_are_one_table(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    n = 300
    for name, ints, unit in (("a", pa.int32(), "us"), ("b", pa.int64(), "ns")):
        table = pa.table({"sex": pa.array(rng.choice(["F", "M"], n)), "y": pa.array(rng.integers(0, 2, n), ints),
                          "s": pa.array(rng.random(n)),
                          "t": pa.array(np.arange(n).astype(f"datetime64[{unit}]"), pa.timestamp(unit))})
        pq.write_table(table, tmp_path / f"{name}.parquet")
    r = audit.run_audit(None, str(tmp_path / "*.parquet"), label="y", protected="sex", scores="s", features=["t"],
                        n_bootstrap=0, engine="duckdb")
    assert r.n_rows == 2 * n


def test_the_demo_model_is_fitted_once_and_each_caller_gets_its_own_copy(adult_test):
    from audit.datasets import ADULT_FEATURES, adult_model

    a = adult_model()
    a.set_params(logisticregression__C=1e-6)  # a caller changing its copy ...
    b = adult_model()
    assert a is not b and b.get_params()["logisticregression__C"] == 1.0  # ... changes no one else's
    c = adult_model()
    X = adult_test[ADULT_FEATURES].iloc[:500]
    np.testing.assert_array_equal(b.predict_proba(X), c.predict_proba(X))
