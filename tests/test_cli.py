"""The command line, run as a user runs it: every exit code, outputs, stdout/stderr discipline."""

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

HERE = Path(__file__).resolve().parent


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "audit", *args], capture_output=True, text=True, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    n = 3000
    sex = rng.choice(["female", "male"], n)
    x = rng.normal(size=n) + 0.6 * (sex == "male")
    y = (x + rng.normal(scale=0.8, size=n) > 0.3).astype(int)
    df = pd.DataFrame({"x": x, "z": rng.normal(size=n), "sex": sex, "y": y})
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(df[["x", "z"]], df["y"])
    df["score"] = model.predict_proba(df[["x", "z"]])[:, 1]
    df["pred"] = (df["score"] >= 0.5).astype(int)
    df.to_csv(d / "data.csv", index=False)
    df.to_parquet(d / "data.parquet")
    import joblib

    joblib.dump(model, d / "model.joblib")
    (d / "broken.joblib").write_bytes(b"not a pickle")
    import skops.io as sio

    sio.dump(model, d / "model.skops")
    (d / "strict.toml").write_text('[[rules]]\nname = "four-fifths"\nmetric = "demographic_parity_ratio"\nmin = 0.8\n'
                                   'mode = "point"\n')
    (d / "lenient.toml").write_text('[[rules]]\nmetric = "accuracy"\nscope = "overall"\nmin = 0.5\n')
    return d


BASE = ("run", "--data", "data.csv", "--label", "y", "--protected", "sex", "--n-bootstrap", "200")


def test_run_with_model_writes_every_output(workdir):
    r = cli(*BASE, "--model", "model.skops", "--json", "out.json", "--html", "out.html", "--junit", "out.xml",
            "--markdown", "out.md", "--policy", "lenient.toml", "--train-data", "data.parquet", cwd=workdir)
    assert r.returncode == 0, r.stderr
    res = audit.AuditResult.from_json(workdir / "out.json")
    assert res.n_rows == 3000 and res.model.method == "predict_proba"
    assert res.section("training_data").get("n_rows") == 3000
    assert audit.AuditResult.from_html(workdir / "out.html") == res
    assert "gate passed" in r.stderr
    assert "## Fairness audit: gate passed" in (workdir / "out.md").read_text()


def test_gate_failure_exits_1_and_still_writes_outputs(workdir):
    r = cli(*BASE, "--scores", "score", "--policy", "strict.toml", "--junit", "fail.xml", "--json", "fail.json",
            cwd=workdir)
    assert r.returncode == 1, r.stderr
    assert "gate FAILED" in r.stderr and "four-fifths" in r.stderr
    assert (workdir / "fail.json").is_file()
    xml = (workdir / "fail.xml").read_text()
    assert "<failure" in xml and 'failures="1"' in xml


def test_junit_validates_against_schema(workdir):
    xmlschema = pytest.importorskip("xmlschema")
    r = cli(*BASE, "--predictions", "pred", "--policy", "strict.toml", "--junit", "v.xml", cwd=workdir)
    assert r.returncode == 1
    schema = xmlschema.XMLSchema(str(HERE / "data" / "junit.xsd"))
    schema.validate(str(workdir / "v.xml"))
    text = (workdir / "v.xml").read_text()
    assert "demographic_parity_ratio" in text and "[" in text  # failures carry the numbers


def test_json_to_stdout_keeps_stdout_clean(workdir):
    r = cli(*BASE, "--scores", "score", "--json", "-", cwd=workdir)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["format"] == "fairness-audit/result"
    assert "auditing" in r.stderr


def test_parquet_and_pickle_warning(workdir):
    r = cli("run", "--data", "data.parquet", "--label", "y", "--protected", "sex", "--n-bootstrap", "0",
            "--model", "model.joblib", "--features", "x,z", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "runs code stored in the file" in r.stderr


@pytest.mark.parametrize("args,message", [
    (("--model", "missing.joblib"), "model file 'missing.joblib' does not exist"),
    (("--model", "broken.joblib"), "cannot load model file 'broken.joblib'"),
    (("--scores", "score", "--policy", "nope.toml"), "cannot read policy file 'nope.toml'"),
    (("--scores", "scor"), "scores column 'scor' is not in data (did you mean 'score'?)"),
])
def test_errors_exit_2_with_one_line(workdir, args, message):
    r = cli(*BASE, *args, cwd=workdir)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_missing_data_file_and_usage_errors(workdir):
    r = cli("run", "--data", "nope.csv", "--label", "y", "--protected", "sex", "--scores", "s", cwd=workdir)
    assert r.returncode == 2 and "data file 'nope.csv' does not exist" in r.stderr
    r = cli("run", "--data", "data.csv", "--protected", "sex", "--scores", "score", cwd=workdir)
    assert r.returncode == 2 and "--label" in r.stderr
    r = cli("frobnicate")
    assert r.returncode == 2
    r = cli(*BASE, "--scores", "score", "--debug", "--model", "missing.joblib", cwd=workdir)
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_policy_typo_exits_2_naming_key_and_line(workdir):
    (workdir / "typo.toml").write_text('[[rules]]\nmetric = "accuracy"\nscope = "overall"\nminimum = 0.8\n')
    r = cli(*BASE, "--scores", "score", "--policy", "typo.toml", cwd=workdir)
    assert r.returncode == 2
    assert "typo.toml, line 4, rule 1: unknown key 'minimum'" in r.stderr


@pytest.mark.parametrize("setting,code", [("warn", 0), ("fail", 1)])
def test_inconclusive_under_each_setting(workdir, setting, code):
    stored = workdir / "stored.json"
    if not stored.exists():
        assert cli(*BASE, "--scores", "score", "--json", str(stored), cwd=workdir).returncode == 0
    res = audit.AuditResult.from_json(stored)
    d = res.disparities
    row = d[(d.metric == "demographic_parity_ratio") & (d.comparison == "vs_reference")].iloc[0]
    threshold = float(row["value"] + row["ci_high"]) / 2  # estimate below it, interval reaches above it
    (workdir / f"inc-{setting}.toml").write_text(
        f'[defaults]\non_inconclusive = "{setting}"\n[[rules]]\nmetric = "demographic_parity_ratio"\n'
        f"min = {threshold!r}\n")
    r = cli("gate", str(stored), "--policy", f"inc-{setting}.toml", cwd=workdir)
    assert r.returncode == code, r.stderr
    assert "inconclusive" in r.stderr


def test_baseline_regression_and_refusal(workdir):
    assert cli(*BASE, "--scores", "score", "--json", "base.json", cwd=workdir).returncode == 0
    from audit._io import exact_floats

    df = pd.read_csv(workdir / "data.csv", **exact_floats())
    worse = df.copy()  # the same data scored by a new model that is harsher on women
    worse.loc[worse["sex"] == "female", "score"] *= 0.5
    worse.to_csv(workdir / "worse.csv", index=False)
    df.iloc[:-10].to_csv(workdir / "fewer.csv", index=False)  # different data
    (workdir / "reg.toml").write_text('[[rules]]\nmetric = "demographic_parity_difference"\nmax_worsening = 0.02\n')
    common = ("--label", "y", "--protected", "sex", "--scores", "score", "--n-bootstrap", "200", "--policy", "reg.toml",
              "--baseline", "base.json")
    r = cli("run", "--data", "worse.csv", *common, cwd=workdir)
    assert r.returncode == 1 and "worse by" in r.stderr, r.stderr
    r = cli("run", "--data", "fewer.csv", *common, cwd=workdir)
    assert r.returncode == 2 and "different data" in r.stderr
    r = cli("run", "--data", "fewer.csv", *common, "--allow-different-data", cwd=workdir)
    assert r.returncode == 0, r.stderr
    r = cli("gate", "base.json", "--policy", "reg.toml", "--baseline", "base.json", cwd=workdir)
    assert r.returncode == 0, r.stderr


def test_report_rerenders_and_init_writes_starters(workdir, tmp_path):
    assert cli(*BASE, "--scores", "score", "--json", "r.json", cwd=workdir).returncode == 0
    r = cli("report", "r.json", "--html", "r.html", "--markdown", "-", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("## Fairness audit")
    assert audit.AuditResult.from_html(workdir / "r.html") == audit.AuditResult.from_json(workdir / "r.json")
    r = cli("init", "--dir", str(tmp_path))
    assert r.returncode == 0
    from audit.gate import Policy

    assert Policy.from_toml(tmp_path / "policy.toml").rules
    assert cli("init", "--dir", str(tmp_path)).returncode == 2  # refuses to overwrite


def test_config_file_run(workdir):
    (workdir / "audit.toml").write_text(
        '[audit]\ndata = "data.csv"\nlabel = "y"\nprotected = ["sex"]\nscores = "score"\nn_bootstrap = 200\n'
        'json = "cfg.json"\npolicy = "lenient.toml"\n[audit.options]\nmin_group_size = 50\n')
    r = cli("run", "--config", "audit.toml", cwd=workdir)
    assert r.returncode == 0, r.stderr
    res = audit.AuditResult.from_json(workdir / "cfg.json")
    assert res.config.min_group_size == 50
    (workdir / "bad.toml").write_text('[audit]\ndata = "data.csv"\nlabels = "y"\n')
    r = cli("run", "--config", "bad.toml", cwd=workdir)
    assert r.returncode == 2 and "unknown key 'labels'" in r.stderr and "did you mean 'label'" in r.stderr


def test_unexpected_exception_never_exits_1(monkeypatch, capsys):
    from audit import cli as cli_mod

    def boom(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr("audit.results.AuditResult.from_json", boom)
    code = cli_mod.main(["gate", "x.json", "--policy", "p.toml"])
    assert code == 2
    assert "internal error: RuntimeError: kaboom" in capsys.readouterr().err


def test_skops_pipelines_of_scikit_learn_load_without_trust_and_others_are_refused_before_the_data(tmp_path):
    """The demo's own kind of pipeline (make_column_selector, numpy dtypes) loads from .skops without
    --trust-model; tree nodes (which skops warns about), functions and types from elsewhere are refused, naming
    them, before the data is read."""
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    from audit._io import check_model_file, load_model
    from audit.exceptions import ModelError

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "c": rng.choice(["x", "y"], 300)})
    y = (X["a"] > 0).astype(int)
    pre = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_exclude="number")),
                                  (StandardScaler(), make_column_selector(dtype_include="number")))
    model = make_pipeline(pre, LogisticRegression()).fit(X, y)
    path = tmp_path / "lr.skops"
    sio.dump(model, path)
    assert sio.get_untrusted_types(file=path)  # skops alone would ask for --trust-model
    loaded = load_model(path)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    if tuple(int(x) for x in np.__version__.split(".")[:2]) >= (1, 25):  # skops cannot save its generator before
        # tree nodes are the classes skops warns about (a crafted file can crash the process): review them
        hgb = make_pipeline(pre, HistGradientBoostingClassifier(max_iter=5)).fit(X, y)
        path = tmp_path / "hgb.skops"
        sio.dump(hgb, path)
        with pytest.raises(ModelError, match="TreePredictor.*bounds check"):
            load_model(path)
        assert np.array_equal(load_model(path, trust=True).predict_proba(X), hgb.predict_proba(X))
    import operator

    norm = tmp_path / "norm.skops"  # a numpy function, not a class: the model would call it, so it needs review
    sio.dump(FunctionTransformer(np.linalg.norm), norm)
    with pytest.raises(ModelError, match="numpy.linalg.norm"):
        check_model_file(norm)
    odd = make_pipeline(FunctionTransformer(operator.abs), LogisticRegression()).fit(X[["a"]], y)
    path = tmp_path / "odd.skops"
    sio.dump(odd, path)
    with pytest.raises(ModelError, match="_operator.abs"):
        check_model_file(path)
    assert load_model(path, trust=True) is not None
    # the CLI refuses it before reading the data (a data file that does not exist is never reached)
    r = subprocess.run([sys.executable, "-m", "audit", "run", "--model", str(path), "--data", "missing.csv",
                        "--label", "y", "--protected", "c"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2 and "need review" in r.stderr and "reading" not in r.stderr
