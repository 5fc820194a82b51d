"""A gate that cannot pass by accident, and inputs that cannot crash it (issue 9's findings, each a regression
test): models that exit, rules that judge nothing, exit codes, typed config and policy files, malformed result
files, write errors, one-line guards."""

from __future__ import annotations

import json
import re
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import audit
from audit.exceptions import ConfigError, InputError, ModelError
from audit.gate import Policy, evaluate


from tests.test_cli import cli


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    found = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    if not found:
        pytest.skip("no BLAS library visible to threadpoolctl")
    return found


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("hard")
    rng = np.random.default_rng(0)
    n = 2000
    df = pd.DataFrame({"x": rng.normal(size=n), "sex": rng.choice(["f", "m"], n), "y": rng.integers(0, 2, n)})
    df["score"] = 1 / (1 + np.exp(-df["x"]))
    df.to_csv(d / "data.csv", index=False)
    (d / "exits.py").write_text(
        "import sys, numpy as np\n"
        "class Exits:\n"
        "    classes_ = np.array([0, 1])\n"
        "    def predict_proba(self, X):\n"
        "        sys.exit(0)\n"
        "class ExitsOnLoad:\n"
        "    def __reduce__(self):\n"
        "        return (sys.exit, (0,))\n")
    sys.path.insert(0, str(d))
    import joblib

    from exits import Exits, ExitsOnLoad  # noqa: E402

    joblib.dump(Exits(), d / "exits.joblib")
    joblib.dump(ExitsOnLoad(), d / "exits_on_load.joblib")
    (d / "pass.toml").write_text('[[rules]]\nmetric = "accuracy"\nscope = "overall"\nmin = 0.0\nmode = "point"\n')
    audit.run_audit(None, df, label="y", protected=["sex"], scores="score", n_bootstrap=100).to_json(d / "r.json")
    return d


BASE = ("run", "--data", "data.csv", "--label", "y", "--protected", "sex", "--n-bootstrap", "100")


# -- a gate that cannot pass by accident ------------------------------------------------------------------------

def test_a_model_that_calls_sys_exit_is_a_model_error(work):
    """Regression: `audit run --policy` exited 0 with nothing written when the model called sys.exit()."""
    r = cli(*BASE, "--model", "exits.joblib", "--policy", "pass.toml", "--json", "out1.json", cwd=work)
    assert r.returncode == 2, r.stderr
    assert "sys.exit" in r.stderr and not (work / "out1.json").exists()
    r = cli(*BASE, "--model", "exits_on_load.joblib", "--policy", "pass.toml", cwd=work)
    assert r.returncode == 2 and "sys.exit" in r.stderr
    from exits import Exits

    df = pd.read_csv(work / "data.csv")
    with pytest.raises(ModelError, match="sys.exit"):
        audit.run_audit(Exits(), df, label="y", protected=["sex"], features=["x"])


def test_exit_codes_do_not_depend_on_debug(work):
    """Regression: --debug turned every error into exit 1, the code for "gate failed"."""
    for args in ((*BASE, "--model", "exits.joblib"), ("gate", "missing.json", "--policy", "pass.toml"),
                 ("run", "--data", "nope.csv", "--label", "y", "--protected", "sex", "--scores", "score")):
        plain, debug = cli(*args, cwd=work), cli("--debug", *args, cwd=work)
        assert plain.returncode == debug.returncode == 2, (args, plain.stderr, debug.stderr)
        assert "Traceback" in debug.stderr or "error" in debug.stderr


def test_junit_without_policy_fails_before_any_work(work):
    r = cli(*BASE, "--model", "exits.joblib", "--junit", "j.xml", cwd=work)
    assert r.returncode == 2 and "--junit needs --policy" in r.stderr
    assert "reading" not in r.stderr  # nothing was loaded, let alone audited


def test_pickle_warning_comes_before_the_files_code_runs(work):
    r = cli(*BASE, "--model", "exits_on_load.joblib", cwd=work)
    lines = r.stderr.splitlines()
    warn = next(i for i, ln in enumerate(lines) if "runs code stored in the file" in ln)
    err = next(i for i, ln in enumerate(lines) if "sys.exit" in ln)
    assert warn < err


def _result(groups=("a", "b"), n=600, seed=0, **kw):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"g": rng.choice(list(groups), n), "h": rng.choice(["p", "q"], n), "y": rng.integers(0, 2, n),
                       "s": rng.random(n)})
    return audit.run_audit(None, df, label="y", positive_label=1, protected=kw.pop("protected", ["g"]), scores="s",
                           n_bootstrap=100, **kw)


def test_a_rule_on_an_unknown_attribute_is_a_configuration_error():
    r = _result()
    pol = Policy.from_dict({"rules": [{"metric": "demographic_parity_ratio", "min": 0.8, "attributes": ["gg"]}]})
    with pytest.raises(ConfigError, match="'gg', which is not a protected attribute.*did you mean 'g'"):
        evaluate(r, pol)


def test_a_rule_with_nothing_to_judge_never_passes():
    """Regression: a rule on an attribute with one group matched no rows and passed."""
    r = _result(groups=("a",))
    assert any("single group" in w for w in r.warnings)
    pol = Policy.from_dict({"rules": [{"metric": "demographic_parity_ratio", "min": 0.8}]})
    g = evaluate(r, pol)
    assert not g.passed and g.rules[0].blocking and "single group" in g.rules[0].checks[0].message


def test_max_worsening_without_baseline_is_not_applicable_and_judges_nothing():
    r = _result()
    only = Policy.from_dict({"rules": [{"metric": "demographic_parity_difference", "max_worsening": 0.02}]})
    g = evaluate(r, only)
    assert g.rules[0].verdict == "not applicable" and "no baseline" in g.rules[0].checks[0].message
    assert not g.passed  # nothing at all was judged
    both = Policy.from_dict({"rules": [{"metric": "demographic_parity_difference", "max_worsening": 0.02},
                                       {"metric": "accuracy", "scope": "overall", "min": 0.0}]})
    g = evaluate(r, both)
    assert g.passed and [x.verdict for x in g.rules] == ["not applicable", "pass"]


@pytest.mark.parametrize("text, match", [
    ('version = true\n[[rules]]\nmetric = "accuracy"\nmin = 0.5\n', "version"),
    ('[[rules]]\nmetric = "demographic_parity_difference"\nmax_abs = -0.1\n', "line 3.*max_abs = -0.1 can never"),
    ('[[rules]]\nmetric = "accuracy"\nmin = 0.9\nmax = 0.8\n', "line 3.*above max"),
    ('[[rules]]\nmetric = "accuracy"\nmin = "0.8"\n', "line 3.*must be a number"),
    ('[[rules]]\nmetric = "accuracy"\nmin = 0.8\nintersections = "no"\n', "intersections must be true or false"),
    ('[[rules]]\nmetric = "accuracy"\nmin = 0.8\nname = 3\n', "name must be a string"),
])
def test_impossible_or_mistyped_policies_are_refused(tmp_path, text, match):
    p = tmp_path / "p.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match):
        Policy.from_toml(p)


def test_non_utf8_policy_and_config_are_refused_with_the_file(tmp_path, work):
    p = tmp_path / "p.toml"
    p.write_bytes(b'[[rules]]\nmetric = "accuracy"\nmin = 0.8\nname = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        Policy.from_toml(p)
    r = cli("gate", "r.json", "--policy", str(p), cwd=work)
    assert r.returncode == 2 and "not UTF-8" in r.stderr and "internal error" not in r.stderr


@pytest.mark.parametrize("line, match", [
    ('trust_model = "false"', "trust_model must be true or false"),
    ('intersections = "no"', "intersections must be true or false"),
    ("seed = 1.5", "seed must be an integer"),
    ('protected = 3', "protected must be a column name"),
    ('[audit.options]\nmin_group_size = "30"', r"audit.options.*min_group_size"),
])
def test_config_keys_are_type_checked(work, line, match):
    """Regression: trust_model = "false" (a string) loaded untrusted skops types; intersections = "no" turned
    them on."""
    cfg = work / "bad.toml"
    cfg.write_text(f'[audit]\ndata = "data.csv"\nlabel = "y"\nscores = "score"\n{line}\n')
    r = cli("run", "--config", str(cfg), "--protected", "sex", cwd=work)
    assert r.returncode == 2, r.stderr
    assert "bad.toml" in r.stderr and re.search(match, r.stderr), r.stderr
    assert "internal error" not in r.stderr





@pytest.mark.parametrize("mutate, match", [
    (lambda d: d["metrics_table"]["rows"][0].__setitem__(3, "high"), r"metrics_table.rows\[0\] \(value\)"),
    (lambda d: d.pop("metrics_table"), "metrics_table must be"),
    (lambda d: d.__setitem__("n_rows", "many"), "n_rows must be"),
    (lambda d: d["model"].__setitem__("method", 5), "model.method must be"),
    (lambda d: d["config"].__setitem__("seed", "x"), "config"),
    (lambda d: d.__setitem__("favorable", "yes"), "favorable must be"),
])
def test_malformed_result_json_names_the_file_and_key(work, tmp_path, mutate, match):
    data = json.loads((work / "r.json").read_text())
    mutate(data)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(data))
    with pytest.raises(InputError, match=match) as e:
        audit.AuditResult.from_json(p)
    assert str(p) in str(e.value)
    r = cli("gate", str(p), "--policy", "pass.toml", cwd=work)
    assert r.returncode == 2 and "internal error" not in r.stderr, r.stderr


def test_deeply_nested_and_non_utf8_result_files(tmp_path):
    p = tmp_path / "deep.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError):
        audit.AuditResult.from_json(p)
    p.write_bytes(b'{"format": "\xff"}')
    with pytest.raises(InputError, match="not UTF-8"):
        audit.AuditResult.from_json(p)


def test_a_result_path_starting_with_a_brace_is_a_file(work, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("{weird}.json").write_text((work / "r.json").read_text())
    r = audit.AuditResult.from_json("{weird}.json")
    assert r.n_rows == 2000
    assert cli("gate", "{weird}.json", "--policy", str(work / "pass.toml"), cwd=tmp_path).returncode == 0


def test_write_errors_name_the_target(work):
    r = cli("report", "r.json", "--html", "no/such/dir/report.html", cwd=work)
    assert r.returncode == 2
    assert "report.html" in r.stderr and ".tmp" not in r.stderr


# -- one-line guards --------------------------------------------------------------------------------------------

def test_infinity_in_a_protected_column_is_refused():
    df = pd.DataFrame({"g": [1.0, 2.0, np.inf, 1.0], "y": [0, 1, 0, 1], "s": [0.1, 0.2, 0.3, 0.4]})
    with pytest.raises(InputError, match="'g' has 1 infinite value"):
        audit.run_audit(None, df, label="y", protected=["g"], scores="s")


def test_all_negative_and_all_positive_labels_are_audited_alike():
    """Issue 17: an all-negative label was refused while an all-positive one was audited; both are audited, the
    metrics that need the missing class undefined with the reason."""
    undefined = {}
    for value, missing in ((0, "positives"), (1, "negatives")):
        df = pd.DataFrame({"g": ["a", "b"] * 20, "y": [value] * 40, "s": np.linspace(0, 1, 40)})
        r = audit.run_audit(None, df, label="y", protected=["g"], scores="s", n_bootstrap=100)
        m = r.metrics[r.metrics.attribute == "(overall)"].set_index("metric")
        assert m.loc["roc_auc", "status"] == "undefined"
        undefined[value] = set(m.index[m.status == "undefined"])
        assert any(f"the metrics that need actual {missing} are undefined" in w for w in r.warnings)
        assert m.loc["recall" if value == 0 else "specificity", "reason"] == f"the group has no actual {missing}"
    assert undefined[0] == {"balanced_accuracy", "recall", "fnr", "roc_auc", "average_precision"}
    assert undefined[1] == {"balanced_accuracy", "specificity", "fpr", "roc_auc"}


def test_a_positive_label_of_another_type_on_a_single_valued_label_is_refused_without_inverting_advice():
    df = pd.DataFrame({"g": ["a", "b"] * 20, "y": [0] * 40, "s": np.linspace(0, 1, 40)})
    with pytest.raises(InputError) as e:
        audit.run_audit(None, df, label="y", positive_label="yes", protected=["g"], scores="s")
    assert e.value.code == "single_class_label" and "would not fix this" in str(e.value)


def test_model_repr_and_multi_line_errors():
    df = pd.DataFrame({"g": ["a", "b"] * 50, "y": [0, 1] * 50, "x": np.linspace(0, 1, 100)})

    class BadRepr:
        classes_ = np.array([0, 1])

        def fit(self):
            return self

        def predict_proba(self, X):
            p = X["x"].to_numpy()
            return np.c_[1 - p, p]

        def __repr__(self):
            raise RuntimeError("no repr")

    r = audit.run_audit(BadRepr(), df, label="y", protected=["g"], features=["x"], n_bootstrap=0)
    assert "BadRepr" in r.model.description

    class MultiLine(BadRepr):
        def predict_proba(self, X):
            raise ValueError("line one\nline two\n::error::x")

    with pytest.raises(ModelError) as e:
        audit.run_audit(MultiLine(), df, label="y", protected=["g"], features=["x"], n_bootstrap=0)
    assert "\n" not in str(e.value) and "line one line two" in str(e.value)


def test_overlapping_blas_limits_restore_the_original():
    """Two audits overlapping in time (A starts, B starts, A ends, B ends): threadpoolctl's own context manager
    would restore B's view (one thread) last; the shared limit restores the original."""
    from threadpoolctl import threadpool_limits

    from audit._engine import blas_single_threaded

    blas = _blas_threads
    with threadpool_limits(2, user_api="blas"):
        before = blas()
        a, b = blas_single_threaded(), blas_single_threaded()
        a.__enter__()
        b.__enter__()
        assert set(blas()) == {1}
        a.__exit__(None, None, None)
        assert set(blas()) == {1}  # B still runs
        b.__exit__(None, None, None)
        assert blas() == before


def test_overlapping_audits_in_threads_restore_blas_threads():
    from threadpoolctl import threadpool_limits

    blas = _blas_threads
    with threadpool_limits(2, user_api="blas"):
        before = blas()
        rng = np.random.default_rng(0)
        df = pd.DataFrame({"g": rng.choice(["a", "b"], 30000), "y": rng.integers(0, 2, 30000), "s": rng.random(30000)})
        start = threading.Barrier(3)

        def work():
            start.wait()
            for _ in range(3):
                audit.run_audit(None, df, label="y", protected=["g"], scores="s", n_bootstrap=200)

        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert blas() == before


def test_csv_floats_round_trip_and_the_fingerprint_is_the_same_under_pandas_2_and_3(tmp_path):
    """Regression (issue 9): pandas 2's default CSV parser is 1 ulp off for some floats (927 of 3,000), so the same
    file had another data fingerprint under pandas 2 than 3 and a baseline made under one was refused under the
    other. CI runs this test under pandas 3 and, in the floor-versions run, under pandas 2.0.3: both must give
    the fingerprint recorded here."""
    from audit._io import load_data

    rng = np.random.default_rng(42)
    n = 3000
    scale = np.array([1e-8, 1e-6, 1e-4, 1e-2, 1.0, 1e2, 1e4, 1e6])  # literals: the same bits under any numpy
    df = pd.DataFrame({"x": rng.normal(size=n) * scale[rng.integers(0, 8, n)], "g": rng.choice(["a", "b"], n),
                       "y": rng.integers(0, 2, n), "s": rng.random(n)})
    path = tmp_path / "floats.csv"
    with open(path, "w") as fh:  # repr() text: the shortest string that reads back to the same float
        fh.write("x,g,y,s\n")
        for x, g, y, s in df.itertuples(index=False):
            fh.write(f"{x!r},{g},{y},{s!r}\n")
    back = load_data(path)
    assert np.array_equal(back["x"].to_numpy(), df["x"].to_numpy())
    assert np.array_equal(back["s"].to_numpy(), df["s"].to_numpy())
    r = audit.run_audit(None, back, label="y", protected=["g"], scores="s", features=["x"], n_bootstrap=0)
    recorded = (Path(__file__).parent / "golden" / "fingerprint.txt").read_text().strip()
    assert r.data_fingerprint == recorded


def test_a_broken_pyarrow_is_reported_as_broken(tmp_path, monkeypatch):
    """Regression (issue 9): with numpy 1.x, an installed pyarrow that refuses to import was reported as "needs
    pyarrow: pip install pyarrow"."""
    import builtins

    from audit._io import load_data

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "pyarrow":
            raise ImportError("pyarrow requires NumPy 2.0 or newer, found 1.24.4")
        return real(name, *a, **k)

    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(InputError, match="installed but fails to import: pyarrow requires NumPy 2.0") as e:
        load_data(tmp_path / "d.parquet")
    assert e.value.code == "broken_dependency"


def test_equalized_odds_reason_names_the_missing_outcome():
    """Regression (issue 9): when a group had only favourable outcomes, equalized odds said it had no favourable
    ones."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"g": ["a"] * 200 + ["b"] * 50, "y": np.r_[rng.integers(0, 2, 200), np.ones(50, int)],
                       "s": rng.random(250)})
    r = audit.run_audit(None, df, label="y", positive_label=1, protected=["g"], scores="s", reference={"g": "a"},
                        n_bootstrap=0, min_negatives=0)
    row = r.disparities.set_index(["group", "metric"]).loc[("b", "equalized_odds_difference")]
    assert row["verdict"] == "undefined" and "no actual unfavourable outcomes" in row["reason"]
