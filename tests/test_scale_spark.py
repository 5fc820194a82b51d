"""The same audit on a Spark DataFrame (local mode): identical to DuckDB's, with the model applied through
mapInPandas and samples pulled by Spark. Slow (a JVM starts), run in CI."""

from __future__ import annotations

import shutil
import warnings

import pandas as pd
import pytest

import audit

pytestmark = pytest.mark.slow
pyspark = pytest.importorskip("pyspark")
duckdb = pytest.importorskip("duckdb")
if shutil.which("java") is None:  # pragma: no cover - .ci/run installs Java
    pytest.skip("Spark needs Java 17 (.ci/run installs openjdk-17-jre-headless)", allow_module_level=True)

KW = dict(label="income", positive_label=">50K", protected=["sex", "race"])


@pytest.fixture(scope="module")
def spark():
    from audit._scale.sources import spark_session

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session = spark_session()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def adult_spark(spark, adult_scored):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return spark.createDataFrame(adult_scored)


def _duckdb(df, **kw):
    con = duckdb.connect()
    return audit.run_audit(None, con.from_df(df), **kw)


def test_spark_gives_duckdbs_result_exactly(adult_spark, adult_scored):
    sp = audit.run_audit(None, adult_spark, scores="score", **KW)
    dk = _duckdb(adult_scored, scores="score", **KW)
    assert sp.section("data_source").get("engine") == "spark"
    pd.testing.assert_frame_equal(sp.metrics_table.to_frame(), dk.metrics_table.to_frame())
    pd.testing.assert_frame_equal(sp.disparities_table.to_frame(), dk.disparities_table.to_frame())
    assert sp.data_fingerprint == dk.data_fingerprint  # the same cells, whatever engine summed them


def test_the_model_runs_in_mapinpandas_and_predicts_like_in_memory(adult_spark, adult_model, adult_test):
    sp = audit.run_audit(adult_model, adult_spark, **KW)
    mem = audit.run_audit(adult_model, adult_test, **KW)
    assert sp.section("data_source").get("model_applied_in_batches")
    pd.testing.assert_frame_equal(sp.groups_table.to_frame(), mem.groups_table.to_frame())
    a = mem.metrics_table.to_frame().set_index(["attribute", "group", "metric"])
    b = sp.metrics_table.to_frame().set_index(["attribute", "group", "metric"])
    counts = a.index.get_level_values("metric").isin(["accuracy", "selection_rate", "fpr", "fnr", "precision"])
    pd.testing.assert_frame_equal(a[counts], b[counts])


def test_explanations_sample_and_bad_input_on_spark(spark, adult_spark, adult_model, adult_scored):
    opts = {"rows": 200, "proxy_rows": 500, "lime_cases": 1, "lime_samples": 300, "lime_seeds": 1}
    res = audit.run_audit(adult_model, adult_spark, explain=opts, n_bootstrap=200, **KW)
    assert not res.errors, res.errors
    assert res.section("explanations").get("sample")["rows_in_data"] == 16281
    assert len(res.shap_importance) > 5
    bad = adult_scored[["sex", "race", "income", "score"]].iloc[:500].copy()
    bad.loc[3, "score"] = float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sdf = spark.createDataFrame(bad)
    with pytest.raises(audit.InputError) as exc:
        audit.run_audit(None, sdf, scores="score", **KW)
    assert exc.value.code == "nonfinite_scores" and exc.value.column == "score"


def test_the_reweighing_expression_is_spark_sql(spark, adult_scored):
    """The weight expression of a Spark audit is evaluated by Spark itself and equals the in-memory weights."""
    import numpy as np

    train = adult_scored.rename(columns={"sex": "the sex'"})  # quotes and backslashes in names and values survive
    train["the sex'"] = train["the sex'"].replace({"Female": "Fe'male\\"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        strain = spark.createDataFrame(train)
    kw = dict(KW, protected=["the sex'", "race"])
    res = audit.run_audit(None, strain, scores="score", train_data=strain, mitigate=True, n_bootstrap=100, **kw)
    sec = res.section("mitigation")
    assert sec is not None, res.errors
    assert sec.get("weight_expression_dialect") == "Spark SQL"
    per_row = strain.selectExpr(f"{sec.get('weight_expression')} AS w").toPandas()["w"].to_numpy()
    ours = audit.reweighing_weights(train, label="income", positive_label=">50K", protected=["the sex'", "race"])
    np.testing.assert_allclose(np.sort(per_row), np.sort(ours.to_numpy()), rtol=1e-12)


def test_explanations_sample_from_1000_strata_on_spark(spark):
    from tests.test_hardening_edges import _many_strata

    df = _many_strata(8000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sdf = spark.createDataFrame(df)
    r = audit.run_audit(None, sdf, label="y", protected=["a", "b"], scores="s", features=["x"], n_bootstrap=0,
                        max_groups=100, intersections=False, explain={"proxy_rows": 300}, strict=True)
    sec = r.section("explanations")
    assert sec.get("sample")["rows"] == len(df) and not sec.get("sample")["groups_missing"]


def test_a_model_that_raises_in_an_executor_is_a_model_error(adult_spark, adult_test):
    from audit.datasets import ADULT_FEATURES
    from audit.exceptions import ModelError

    class Broken:
        classes_ = [">50K", "<=50K"]
        feature_names_in_ = ADULT_FEATURES

        def predict_proba(self, X):
            raise ValueError("the model cannot score these rows")

    with pytest.raises(ModelError, match="inside a Spark executor: the model raised .*the model cannot score these"):
        audit.run_audit(Broken(), adult_spark, **KW)


def test_windows_of_a_spark_frame_equal_memory(spark):
    """A monitor on a Spark DataFrame: the window is one more key of Spark's grouped scan (a formula of the date's
    parts), late labels kept; the same windows, trend and alerts as in memory."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_monitor import _same_windows, _scored

    df = _scored(weeks=4, n=2000)
    kw = dict(time="t", every="7D", label="y", positive_label=1, protected="g", n_bootstrap=100,
              group_reference={"g": "a"}, scores="score")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sdf = spark.createDataFrame(df)
        scanned = audit.audit_windows(None, sdf, engine="spark", **kw)
    _same_windows(audit.audit_windows(None, df, **kw), scanned)
    assert scanned.info["engine"] == "spark"


def test_a_multiclass_audit_on_spark_equals_memory(spark, adult_test):
    """The class tables from Spark's grouped scan, precomputed and with the model applied in mapInPandas."""
    from sklearn.tree import DecisionTreeClassifier

    features = ["age", "education_num", "hours_per_week"]
    rows = adult_test[[*features, "sex", "race", "relationship"]].head(4000).reset_index(drop=True)
    tree = DecisionTreeClassifier(max_depth=5, random_state=0).fit(rows[features], rows["relationship"])
    rows["pred"] = tree.predict(rows[features])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sdf = spark.createDataFrame(rows)
    common = dict(label="relationship", protected=["sex", "race"], n_bootstrap=200, task="multiclass")
    mem = audit.run_audit(None, rows, predictions="pred", **common)
    sp = audit.run_audit(None, sdf, predictions="pred", **common)
    assert sp.section("data_source").get("engine") == "spark"
    pd.testing.assert_frame_equal(mem.metrics, sp.metrics, check_exact=False, rtol=1e-12, atol=1e-12)
    pd.testing.assert_frame_equal(mem.disparities, sp.disparities, check_exact=False, rtol=1e-12, atol=1e-12)
    applied = audit.run_audit(tree, sdf, features=features, **common)
    direct = audit.run_audit(tree, rows[[*features, "sex", "race", "relationship"]], features=features, **common)
    pd.testing.assert_frame_equal(direct.metrics, applied.metrics, check_exact=False, rtol=1e-12, atol=1e-12)


def test_a_regression_audit_on_spark_agrees_with_duckdb(spark, adult_test):
    """Fixed-point sums: Spark's tables equal DuckDB's, whatever order each engine adds the rows in."""
    rows = adult_test[["sex", "race", "hours_per_week", "age", "education_num"]].reset_index(drop=True)
    rows["pred"] = rows["age"] * 0.2 + rows["education_num"] * 0.7 + 25.25
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sdf = spark.createDataFrame(rows)
    common = dict(label="hours_per_week", protected=["sex", "race"], predictions="pred", task="regression",
                  n_bootstrap=200)
    sp = audit.run_audit(None, sdf, **common)
    dk = _duckdb(rows, **common)
    assert sp.section("data_source").get("engine") == "spark" and sp.task == "regression"
    assert sp.target_info("scoring_cut") == dk.target_info("scoring_cut")  # both engines' exact median
    pd.testing.assert_frame_equal(sp.metrics, dk.metrics, check_exact=True)
    pd.testing.assert_frame_equal(sp.disparities, dk.disparities, check_exact=True)
    assert sp.data_fingerprint == dk.data_fingerprint
