"""Audits of data an engine scans (DuckDB embedded; Polars; Spark in test_scale_spark.py): the same result as in
memory where it must be (counts, count metrics and their intervals), within a stated bound where it cannot be
(ROC AUC and average precision from score buckets), and the same refusals of bad input, computed by the engine."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import audit
from audit.exceptions import ConfigError, InputError

duckdb = pytest.importorskip("duckdb")

KW = dict(label="income", positive_label=">50K", protected=["sex", "race"])
COUNT_METRICS = ("accuracy", "balanced_accuracy", "base_rate", "selection_rate", "precision", "recall", "specificity",
                 "fpr", "fnr", "npv", "f1", "positives", "negatives", "predicted_positives")
SUM_METRICS = ("brier", "log_loss", "mean_score", "calibration_in_the_large", "ece")
KEY = ["attribute", "group", "metric"]


@pytest.fixture(scope="module")
def adult_parquet(adult_scored, tmp_path_factory):
    d = tmp_path_factory.mktemp("scale")
    path = d / "adult.parquet"
    adult_scored.to_parquet(path)
    return path


@pytest.fixture(scope="module")
def in_memory(adult_scored):
    return audit.run_audit(None, adult_scored, scores="score", **KW)


@pytest.fixture(scope="module")
def on_duckdb(adult_parquet):
    con = duckdb.connect()
    return audit.run_audit(None, con.read_parquet(str(adult_parquet)), scores="score", **KW)


def _metrics(result):
    return result.metrics_table.to_frame().set_index(KEY)


def test_counts_count_metrics_and_their_intervals_equal_the_in_memory_audit(in_memory, on_duckdb):
    a, b = _metrics(in_memory), _metrics(on_duckdb)
    assert a.index.equals(b.index)
    counts = a.index.get_level_values("metric").isin(COUNT_METRICS)
    pd.testing.assert_frame_equal(a[counts], b[counts])  # values, intervals, status: identical
    pd.testing.assert_frame_equal(in_memory.groups_table.to_frame(), on_duckdb.groups_table.to_frame())
    da = in_memory.disparities_table.to_frame().set_index(["attribute", "group", "reference", "metric"])
    db = on_duckdb.disparities_table.to_frame().set_index(["attribute", "group", "reference", "metric"])
    count_based = ~da.index.get_level_values("metric").isin(["roc_auc_difference", "calibration_gap"])
    # adjusted p-values share one family with the AUC comparisons, so only the raw ones must be identical
    cols = ["value", "ci_low", "ci_high", "p_value_raw", "comparison", "flag"]
    pd.testing.assert_frame_equal(da.loc[count_based, cols], db.loc[count_based, cols])
    assert on_duckdb.n_rows == in_memory.n_rows == 16281


def test_adjusted_p_values_are_exactly_what_the_glossary_says(adult_scored, adult_parquet):
    """Bonferroni (and no correction): count-based adjusted p-values equal the in-memory ones exactly; Holm and BH
    depend on the score tests of the same family, as the glossary states."""
    con = duckdb.connect()
    for correction in ("bonferroni", "none"):
        mem = audit.run_audit(None, adult_scored, scores="score", correction=correction, n_bootstrap=200, **KW)
        eng = audit.run_audit(None, con.read_parquet(str(adult_parquet)), scores="score", correction=correction,
                              n_bootstrap=200, **KW)
        da = mem.disparities_table.to_frame().set_index(["attribute", "group", "reference", "metric"])
        db = eng.disparities_table.to_frame().set_index(["attribute", "group", "reference", "metric"])
        count_based = ~da.index.get_level_values("metric").isin(["roc_auc_difference", "calibration_gap"])
        pd.testing.assert_series_equal(da.loc[count_based, "p_value"], db.loc[count_based, "p_value"])
        pd.testing.assert_series_equal(da.loc[count_based, "verdict"], db.loc[count_based, "verdict"])
    from pathlib import Path

    glossary = " ".join((Path(__file__).parents[1] / "docs" / "glossary.md").read_text().split())
    assert "are equal under `correction = \"bonferroni\"` or `\"none\"`. Under Holm" in glossary


def test_score_sums_are_exact_and_rank_metrics_within_the_stated_bound(in_memory, on_duckdb):
    a, b = _metrics(in_memory), _metrics(on_duckdb)
    sums = a.index.get_level_values("metric").isin(SUM_METRICS)
    np.testing.assert_allclose(b[sums].value.astype(float), a[sums].value.astype(float), rtol=0, atol=1e-8)
    sec = on_duckdb.section("data_source")
    assert sec.get("engine") == "duckdb" and sec.get("score_buckets") == 4096 and not sec.get("exact_rank_metrics")
    bounds = sec.frame("score_error_bounds").set_index(KEY).sort_index()
    rank = a.index.get_level_values("metric").isin(["roc_auc", "average_precision"])
    diff = (a[rank].value.astype(float) - b[rank].value.astype(float)).abs()
    bound = bounds.loc[diff.index, "max_error"].astype(float)
    assert (diff <= bound + 1e-12).all(), pd.concat([diff, bound], axis=1)[diff > bound]
    # the bound is informative, not vacuous: small for the large groups
    overall = bounds.loc[("(overall)", "all")]
    assert overall.loc["roc_auc", "max_error"] < 1e-3 and overall.loc["average_precision", "max_error"] < 2e-3
    assert sec.get("roc_auc_max_error") == pytest.approx(bound.xs("roc_auc", level="metric").max())
    # every interval stays inside its metric's range
    for metric in ("roc_auc", "average_precision", "brier", "ece"):
        rows = b.xs(metric, level="metric").dropna(subset=["ci_low"])
        assert (rows.ci_low >= 0).all() and (rows.ci_high <= 1).all()


def test_scores_with_few_distinct_values_give_exact_rank_metrics(adult_scored):
    df = adult_scored.assign(score=adult_scored.score.round(3))
    mem = audit.run_audit(None, df, scores="score", n_bootstrap=0, **KW)
    eng = audit.run_audit(None, df, scores="score", n_bootstrap=0, engine="duckdb", **KW)
    assert eng.section("data_source").get("exact_rank_metrics") is True
    a, b = _metrics(mem).value.astype(float), _metrics(eng).value.astype(float)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_bound_holds_on_bunched_scores_tiny_groups_and_values_near_0_and_1(seed):
    rng = np.random.default_rng(seed)
    n = 20000
    g = rng.choice(["a", "b", "c", "tiny"], size=n, p=[0.6, 0.3, 0.0995, 0.0005])
    y = rng.random(n) < np.where(g == "a", 0.3, 0.1)
    # bunched near 0 and 1 (many distinct values inside one bucket), plus exact ties
    s = np.where(y, 1 - rng.beta(0.3, 30, n), rng.beta(0.3, 30, n))
    s[rng.random(n) < 0.1] = 0.5
    df = pd.DataFrame({"g": g, "y": y.astype(int), "s": np.clip(s, 0, 1)})
    mem = audit.run_audit(None, df, label="y", protected="g", scores="s", n_bootstrap=200)
    eng = audit.run_audit(None, df, label="y", protected="g", scores="s", n_bootstrap=200, engine="duckdb",
                          score_buckets=256)
    a, b = _metrics(mem), _metrics(eng)
    bounds = eng.section("data_source").frame("score_error_bounds").set_index(KEY)
    for metric in ("roc_auc", "average_precision"):
        va, vb = a.xs(metric, level="metric").value.astype(float), b.xs(metric, level="metric").value.astype(float)
        bd = bounds.xs(metric, level="metric").max_error.astype(float)
        ok = va.notna()
        assert ((va[ok] - vb[ok]).abs() <= bd[ok] + 1e-12).all()
        lo, hi = b.xs(metric, level="metric").ci_low.dropna(), b.xs(metric, level="metric").ci_high.dropna()
        assert (lo >= 0).all() and (hi <= 1).all()


def test_a_glob_a_csv_file_and_a_polars_frame_give_the_same_result(adult_scored, on_duckdb, tmp_path):
    half = len(adult_scored) // 2
    adult_scored.iloc[:half].to_parquet(tmp_path / "part-0.parquet")
    adult_scored.iloc[half:].to_parquet(tmp_path / "part-1.parquet")
    adult_scored.to_csv(tmp_path / "adult.csv", index=False)
    base = on_duckdb.metrics_table.to_frame()
    for data in (str(tmp_path / "part-*.parquet"), tmp_path / "adult.csv"):
        res = audit.run_audit(None, data, scores="score", engine="duckdb", **KW)
        pd.testing.assert_frame_equal(res.metrics_table.to_frame(), base)
        assert res.section("data_source").get("source").endswith((".parquet", ".csv"))
    pl = pytest.importorskip("polars")
    res = audit.run_audit(None, pl.from_pandas(adult_scored).lazy(), scores="score", **KW)
    assert res.section("data_source").get("engine") == "polars"
    pd.testing.assert_frame_equal(res.metrics_table.to_frame(), base)


def test_auto_reads_a_small_file_into_memory_and_the_same_seed_reproduces(adult_parquet, in_memory):
    res = audit.run_audit(None, adult_parquet, scores="score", **KW)
    assert res.section("data_source") is None  # 16,281 rows: in memory, exact
    pd.testing.assert_frame_equal(res.metrics_table.to_frame(), in_memory.metrics_table.to_frame())
    a = audit.run_audit(None, adult_parquet, scores="score", engine="duckdb", seed=7, **KW)
    b = audit.run_audit(None, adult_parquet, scores="score", engine="duckdb", seed=7, **KW)
    assert a.data_fingerprint == b.data_fingerprint
    pd.testing.assert_frame_equal(a.metrics_table.to_frame(), b.metrics_table.to_frame())
    pd.testing.assert_frame_equal(a.disparities_table.to_frame(), b.disparities_table.to_frame())


def test_a_model_applied_batch_by_batch_gives_the_in_memory_predictions(adult_model, adult_test, adult_parquet,
                                                                         on_duckdb, monkeypatch):
    from audit._scale import run as scale_run

    monkeypatch.setattr(scale_run, "BATCH_ROWS", 3000)  # six batches
    calls = []
    real = scale_run.scan.batch_cells

    def counting(batch, plan, predict):
        calls.append(len(batch))
        return real(batch, plan, predict)

    monkeypatch.setattr(scale_run.scan, "batch_cells", counting)
    con = duckdb.connect()
    res = audit.run_audit(adult_model, con.read_parquet(str(adult_parquet)), engine="duckdb", **KW)
    assert len(calls) == 6 and max(calls) <= 3000 and sum(calls) == 16281
    mem = audit.run_audit(adult_model, adult_test, **KW)
    pd.testing.assert_frame_equal(res.groups_table.to_frame(), mem.groups_table.to_frame())
    a, b = _metrics(mem), _metrics(res)
    counts = a.index.get_level_values("metric").isin(COUNT_METRICS)
    pd.testing.assert_frame_equal(a[counts], b[counts])
    # the model's own probabilities scanned batch-wise equal the precomputed column pushed down
    pd.testing.assert_frame_equal(res.metrics_table.to_frame(), on_duckdb.metrics_table.to_frame())
    assert res.model.method == "predict_proba" and res.section("data_source").get("model_applied_in_batches")


@pytest.fixture
def bad_table(adult_scored):
    return adult_scored[["sex", "race", "income", "score"]].iloc[:2000].reset_index(drop=True).copy()


def _refused(df, code, column, **kw):
    con = duckdb.connect()
    args = dict(KW, scores="score")
    args.update(kw)
    with pytest.raises((InputError, ConfigError)) as exc:
        audit.run_audit(None, con.from_df(df), **args)
    assert exc.value.code == code, str(exc.value)
    if column is not None:
        assert exc.value.column == column and repr(column) in str(exc.value)
    return str(exc.value)


def test_bad_input_is_refused_by_the_engine_naming_the_column(bad_table):
    df = bad_table.copy()
    df.loc[[3, 9], "income"] = None
    assert "2 missing" in _refused(df, "missing_values", "income")
    df = bad_table.copy()
    df.loc[[5], "race"] = None
    _refused(df, "missing_values", "race")
    df = bad_table.copy()
    df.loc[[1, 2, 3], "score"] = np.nan
    assert "3 missing, NaN" in _refused(df, "nonfinite_scores", "score")
    df = bad_table.copy()
    df.loc[7, "score"] = 1.5
    assert "1.5" in _refused(df, "scores_out_of_range", "score")
    df = bad_table.copy()
    df["id"] = np.arange(len(df)).astype(str)
    assert "max_groups" in _refused(df, "too_many_groups", "id", protected=["sex", "id"])
    df = bad_table.copy()
    df.loc[4, "income"] = "unknown"
    _refused(df, "too_many_labels", "income")
    msg = _refused(bad_table, "positive_label_absent", "income", positive_label=1)
    assert "'>50K'" in msg and "mind the type" in msg
    _refused(bad_table, "positive_label_absent", "income", positive_label=">50k")  # checked on the cells
    msg = _refused(bad_table, "missing_column", "Sex", protected=["Sex"])
    assert "did you mean 'sex'" in msg
    with pytest.raises(ConfigError):
        audit.run_audit(None, bad_table, scores="score", engine="polars-please", **KW)
    with pytest.raises(InputError, match="column name"):
        con = duckdb.connect()
        audit.run_audit(None, con.from_df(bad_table), scores=bad_table.score.to_numpy(), **KW)


@pytest.mark.parametrize("bad", ["'NaN'::DOUBLE", "'Infinity'::DOUBLE", "NULL"])
def test_nan_infinite_and_null_scores_are_counted_exactly(bad):
    con = duckdb.connect()
    rel = con.sql(f"""SELECT CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END AS g, (i % 3 = 0)::INT AS y,
                      CASE WHEN i IN (5, 17, 400) THEN {bad} ELSE (i % 97) / 97.0 END AS s FROM range(1000) t(i)""")
    with pytest.raises(InputError) as exc:
        audit.run_audit(None, rel, label="y", protected="g", scores="s")
    assert exc.value.code == "nonfinite_scores" and "3 missing, NaN or infinite" in str(exc.value)
    pl = pytest.importorskip("polars")
    df = rel.df()
    with pytest.raises(InputError) as exc:
        audit.run_audit(None, pl.from_pandas(df, nan_to_null=False).lazy(), label="y", protected="g", scores="s")
    assert exc.value.code == "nonfinite_scores" and "3 missing" in str(exc.value)


def test_predictions_columns_and_their_missing_values(bad_table):
    df = bad_table.assign(pred=np.where(bad_table.score >= 0.5, ">50K", "<=50K"))
    con = duckdb.connect()
    res = audit.run_audit(None, con.from_df(df), predictions="pred", **KW)
    mem = audit.run_audit(None, df, predictions="pred", **KW)
    pd.testing.assert_frame_equal(res.metrics_table.to_frame(), mem.metrics_table.to_frame())
    df.loc[0, "pred"] = None
    _refused(df, "missing_predictions", "pred", predictions="pred", scores=None)
    df.loc[0, "pred"] = "maybe"
    with pytest.raises(InputError, match="maybe"):
        audit.run_audit(None, con.from_df(df), predictions="pred", **KW)


def test_a_parquet_file_larger_than_the_memory_allowed_audits_without_loading_it(tmp_path):
    """DuckDB may use 64 MB; the file holds 8 million rows (over 100 MB in Parquet, about 1 GB as a pandas
    DataFrame). The audit runs in a fresh process whose memory growth is measured."""
    path = tmp_path / "big.parquet"
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT CASE WHEN h % 3 = 0 THEN 'Female' ELSE 'Male' END AS sex,
        CASE (h // 7) % 4 WHEN 0 THEN 'Black' WHEN 1 THEN 'Asian' ELSE 'White' END AS race,
        'note-' || (h % 100000)::VARCHAR AS note, s AS score,
        CASE WHEN ((h // 101) % 1000) / 1000.0 < s THEN 1 ELSE 0 END AS label
        FROM (SELECT hash(i) AS h, (hash(i * 31 + 7) % 1000000) / 1000000.0 AS s FROM range(8000000) t(i)))
        TO '{path}' (FORMAT parquet)""")
    con.close()
    size = path.stat().st_size
    assert size > 64 * 2**20
    script = textwrap.dedent(f"""
        import json, resource, duckdb, audit
        con = duckdb.connect(config={{"memory_limit": "64MB", "threads": 1}})
        rel = con.read_parquet({str(path)!r})
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        res = audit.run_audit(None, rel, label="label", protected=["sex", "race"], scores="score", n_bootstrap=200)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        print(json.dumps({{"rows": res.n_rows, "grew_mb": (after - before) / 1024, "limit": limit,
                          "errors": len(res.errors)}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    assert facts["rows"] == 8_000_000 and facts["errors"] == 0
    assert facts["limit"].replace(" ", "").upper().startswith(("64", "61"))  # DuckDB prints 64MB as 61.0 MiB
    # an in-memory audit would hold the 8 million rows (about 1 GB); the engine audit grows by far less
    assert facts["grew_mb"] < 300, facts


def test_reweighing_weights_come_from_the_engines_counts_and_equal_the_in_memory_weights(adult_model, tmp_path):
    from audit.datasets import load_adult

    train = load_adult("train")
    test = load_adult("test")
    train.to_parquet(tmp_path / "train.parquet")
    test.to_parquet(tmp_path / "test.parquet")
    res = audit.run_audit(adult_model, tmp_path / "test.parquet", train_data=tmp_path / "train.parquet",
                          mitigate=True, engine="duckdb", n_bootstrap=200, **KW)
    assert not res.errors, res.errors
    sec = res.section("mitigation")
    ours = audit.reweighing_weights(train, label="income", positive_label=">50K", protected=["sex", "race"])
    con = duckdb.connect()
    per_row = con.sql(f"SELECT {sec.get('weight_expression')} AS w FROM read_parquet('{tmp_path / 'train.parquet'}')"
                      ).fetchnumpy()["w"]
    np.testing.assert_allclose(per_row, ours.to_numpy(), rtol=1e-12)
    table = sec.frame("weights")
    assert table.n.sum() == len(train)
    assert sec.get("sample")["train_rows"] == len(train)  # under the sample budget: all rows
    assert "changes" in dict(sec.tables) and sec.get("refit") is True


def test_explanations_at_scale_use_a_seeded_stratified_sample_weighted_back(adult_model, adult_parquet, monkeypatch):
    from audit._scale import sample

    monkeypatch.setattr(sample, "EXPLAIN_SAMPLE_ROWS", 3000)
    monkeypatch.setattr(sample, "MIN_PER_GROUP", 100)
    opts = {"rows": 300, "proxy_rows": 500, "lime_cases": 1, "lime_samples": 300, "lime_seeds": 1}
    seen = {}
    real = sample._sample_context

    def spy(*args, **kw):
        ctx = real(*args, **kw)
        seen["ctx"] = ctx
        return ctx

    monkeypatch.setattr(sample, "_sample_context", spy)
    con = duckdb.connect()
    runs = [audit.run_audit(adult_model, con.read_parquet(str(adult_parquet)), engine="duckdb",
                            explain=opts, n_bootstrap=200, **KW) for _ in range(2)]
    for r in runs:
        assert not r.errors, r.errors
    info = runs[0].section("explanations").get("sample")
    assert 3000 <= info["rows"] < 16281 and info["rows_in_data"] == 16281 and not info["groups_missing"]
    ctx = seen["ctx"]
    # every row stands for its finest group's rows: the weights add up to the full data, group by group
    assert ctx.row_weights.sum() == pytest.approx(16281)
    full = np.bincount(ctx.finest, weights=ctx.row_weights)
    small = np.flatnonzero(full <= 100)
    assert len(small) >= 2  # Amer-Indian-Eskimo and Other women, for example
    for f in small:  # groups of up to MIN_PER_GROUP rows are taken whole
        assert ctx.row_weights[ctx.finest == f] == pytest.approx(1.0)
    large = np.flatnonzero(full > 1000)
    assert all(ctx.row_weights[ctx.finest == f][0] > 1.5 for f in large)
    pd.testing.assert_frame_equal(runs[0].shap_importance, runs[1].shap_importance)
    assert runs[0].shap_importance.feature.iloc[0] in ("marital_status", "relationship", "capital_gain")


def test_the_cli_scans_a_parquet_file_with_duckdb(adult_parquet, tmp_path):
    from click.testing import CliRunner

    from audit.cli import cli

    out = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["run", "--data", str(adult_parquet), "--label", "income", "--positive-label", ">50K",
                                   "--protected", "sex,race", "--scores", "score", "--engine", "duckdb",
                                   "--json", str(out), "--n-bootstrap", "200"])
    assert res.exit_code == 0, res.output
    payload = json.loads(out.read_text())
    assert payload["sections"]["data_source"]["info"]["engine"] == "duckdb"
    assert "Scanned by duckdb" in res.output


def test_a_hostile_file_name_reaches_no_output_unescaped(adult_scored, tmp_path):
    from audit.report.markdown import render_markdown

    name = "evil\n::error::<img src=x onerror=alert(1)>\x1b[31m.parquet"
    path = tmp_path / name
    adult_scored.iloc[:3000].to_parquet(path)
    res = audit.run_audit(None, str(path), scores="score", engine="duckdb", n_bootstrap=0, **KW)
    assert res.section("data_source").get("source").endswith(name)
    html = res.to_html()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    summary = res.summary()
    assert "\x1b" not in summary and "\n::error::" not in summary
    md = render_markdown(res)
    assert "\n::error::" not in md and "\x1b" not in md
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").render(md)  # backslash-escaped: shown as text, never a tag
    assert "<img" not in rendered and "&lt;img src=x onerror=alert(1)&gt;" in rendered


def test_precomputed_scores_at_scale_still_get_a_proxy_scan(adult_scored, tmp_path):
    path = tmp_path / "a.parquet"
    adult_scored.to_parquet(path)
    res = audit.run_audit(None, path, scores="score", engine="duckdb", n_bootstrap=200,
                          explain={"proxy_rows": 1000}, **KW)
    assert not res.errors, res.errors
    assert set(res.proxy_auc.attribute) == {"sex", "race"} and res.proxy_auc.auc.notna().all()
    feats = set(res.proxies.feature)
    assert {"age", "education", "relationship", "occupation"} <= feats  # the data's own columns are scanned
    assert not feats & {"score", "income", "sex", "race"}
    assert res.proxy_auc.set_index("attribute").auc["sex"] > 0.8  # relationship ("Husband", "Wife") gives sex away


def test_a_model_on_a_polars_lazyframe_runs_batch_by_batch(adult_model, adult_test):
    pl = pytest.importorskip("polars")
    lazy = pl.from_pandas(adult_test).lazy()
    if not hasattr(lazy, "collect_batches"):  # older polars: refused clearly, never collected whole
        with pytest.raises(InputError, match="collect_batches"):
            audit.run_audit(adult_model, lazy, n_bootstrap=0, **KW)
        return
    res = audit.run_audit(adult_model, lazy, n_bootstrap=0, **KW)
    mem = audit.run_audit(adult_model, adult_test, n_bootstrap=0, **KW)
    assert res.section("data_source").get("model_applied_in_batches")
    pd.testing.assert_frame_equal(res.groups_table.to_frame(), mem.groups_table.to_frame())


def test_progress_follows_duckdbs_own_progress_and_changes_nothing(adult_parquet, on_duckdb, capsys):
    res = audit.run_audit(None, adult_parquet, scores="score", engine="duckdb", progress=True, **KW)
    assert "scanning" in capsys.readouterr().err
    pd.testing.assert_frame_equal(res.metrics_table.to_frame(), on_duckdb.metrics_table.to_frame())


def test_a_plain_function_model_is_applied_batch_by_batch_like_in_memory(adult_model, adult_test, adult_parquet):
    from audit.datasets import ADULT_FEATURES

    pos = list(adult_model.classes_).index(">50K")

    def score(X):
        return adult_model.predict_proba(X[ADULT_FEATURES])[:, pos]

    con = duckdb.connect()
    res = audit.run_audit(score, con.read_parquet(str(adult_parquet)), features=ADULT_FEATURES, n_bootstrap=0, **KW)
    mem = audit.run_audit(score, adult_test, features=ADULT_FEATURES, n_bootstrap=0, **KW)
    assert res.model.method == mem.model.method == "callable" and res.model.score_kind == "probability"
    pd.testing.assert_frame_equal(res.groups_table.to_frame(), mem.groups_table.to_frame())


def test_auc_and_ap_intervals_and_tests_carry_the_bucket_bound(on_duckdb):
    """A gate must not pass, nor a difference be significant, because of the buckets: intervals of ROC AUC and AP
    are widened by each group's bound, and AUC differences are tested after moving them towards 0 by it."""
    m = on_duckdb.metrics_table.to_frame()
    bounds = on_duckdb.section("data_source").frame("score_error_bounds").set_index(["attribute", "group", "metric"])
    rows = m[m.metric.isin(["roc_auc", "average_precision"]) & m.ci_low.notna()]
    checked = 0
    for r in rows.itertuples():
        err = float(bounds.loc[(r.attribute, r.group, r.metric), "max_error"])
        if err > 0:
            checked += 1
            assert "score buckets" in r.reason
            assert r.ci_high - r.ci_low >= 2 * err - 1e-12 or r.ci_low == 0 or r.ci_high == 1
    assert checked >= 10
    d = on_duckdb.disparities_table.to_frame()
    auc = d[(d.metric == "roc_auc_difference") & (d.comparison == "vs_reference") & d.ci_low.notna()]
    assert len(auc) and auc.reason.str.contains("score buckets").all()
    for r in auc.itertuples():
        slack = sum(float(bounds.loc[(r.attribute, g, "roc_auc"), "max_error"]) for g in (r.group, r.reference))
        assert r.ci_high - r.ci_low >= 2 * slack - 1e-12


def test_coarse_buckets_widen_intervals_beyond_the_bootstrap():
    """With 64 buckets on 200,000 continuous scores the bound exceeds the sampling noise: the intervals must
    still contain every value the exact AUC could take, and the AUC difference must not be called significant
    on a gap the buckets could have made."""
    rng = np.random.default_rng(5)
    n = 200_000
    g = rng.choice(["a", "b"], size=n)
    y = rng.random(n) < 0.4
    s = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * y)))
    df = pd.DataFrame({"g": g, "y": y.astype(int), "s": s})
    con = duckdb.connect()
    res = audit.run_audit(None, con.from_df(df), label="y", protected="g", scores="s", score_buckets=64,
                          n_bootstrap=200)
    mem = audit.run_audit(None, df, label="y", protected="g", scores="s", n_bootstrap=200)
    bounds = res.section("data_source").frame("score_error_bounds").set_index(["attribute", "group", "metric"])
    m = res.metrics_table.to_frame().set_index(["attribute", "group", "metric"])
    exact = mem.metrics_table.to_frame().set_index(["attribute", "group", "metric"]).value
    for key in bounds.index:
        err = float(bounds.loc[key, "max_error"])
        row = m.loc[key]
        assert err > 0.002  # coarse: far more than the bootstrap's own half-width here (about 0.002)
        assert row.ci_low <= row.value - err + 1e-12 and row.ci_high >= row.value + err - 1e-12
        assert row.ci_low <= exact[key] <= row.ci_high


def test_a_bucket_straddling_a_calibration_edge_keeps_small_group_intervals_centred():
    """Regression: scores of a small group inside the bucket that holds the 0.1 calibration edge. A tie that mixed
    calibration bins once put the AUC interval at [0.22, 1.0] around a value of 0.5."""
    rng = np.random.default_rng(3)
    n = 400
    small = pd.DataFrame({"g": "a", "y": rng.random(n) < 0.5, "s": rng.uniform(0.09990, 0.10005, n)})
    big = pd.DataFrame({"g": "b", "y": rng.random(20000) < 0.3, "s": rng.random(20000)})
    df = pd.concat([small, big], ignore_index=True).assign(y=lambda d: d.y.astype(int))
    con = duckdb.connect()
    res = audit.run_audit(None, con.from_df(df), label="y", protected="g", scores="s", n_bootstrap=1000)
    row = res.metrics_table.to_frame().set_index(["attribute", "group", "metric"]).loc[("g", "a", "roc_auc")]
    assert abs((row.ci_low + row.ci_high) / 2 - row.value) < 0.03
    assert row.ci_high < 1.0
