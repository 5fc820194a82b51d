"""Public API surface, lazy imports, CLI start-up, bundled data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import audit
from audit import datasets

HEAVY = ("sklearn", "shap", "lime", "aif360", "matplotlib")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_import_audit_is_light():
    mods = _modules_after("import audit")
    assert not [m for m in HEAVY if m in mods]


def test_cli_help_does_not_import_pandas():
    mods = _modules_after("import sys; sys.argv=['audit', '--help']\nfrom audit.cli import main\ntry:\n main()\n"
                          "except SystemExit: pass")
    assert "pandas" not in mods and not [m for m in HEAVY if m in mods]
    r = subprocess.run([sys.executable, "-m", "audit", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "Exit codes" in r.stdout


def test_public_api():
    assert set(audit.__all__) == {
        "__version__", "run_audit", "AuditResult", "AuditConfig", "AuditError", "InputError", "ModelError",
        "ConfigError", "AuditWarning", "NonDeterministicModelWarning", "datasets", "reweighing_weights", "Module", "audit_windows", "WindowedAudit", "WindowAccumulator",
        "register_module"}
    for name in audit.__all__:
        assert getattr(audit, name) is not None


@pytest.mark.parametrize("loader,rows,label", [
    (datasets.load_adult, 48_842, "income"), (datasets.load_compas, 6_172, "two_year_recid"),
    (datasets.load_german, 1_000, "credit")])
def test_bundled_datasets(loader, rows, label):
    df = loader()
    assert len(df) == rows and label in df.columns
    info = datasets.DATASETS[loader.__name__.removeprefix("load_")]
    for col in info.protected:
        assert col in df.columns and df[col].notna().all()
    assert set(df[label].unique()) == {info.positive_label, *(set(df[label].unique()) - {info.positive_label})}
    assert df.attrs["label"] == label


def test_adult_splits():
    assert len(datasets.load_adult("train")) == 32_561
    test = datasets.load_adult("test")
    assert len(test) == 16_281 and set(test["income"]) == {"<=50K", ">50K"}
    with pytest.raises(audit.InputError, match="split='dev' is invalid"):
        datasets.load_adult("dev")


def test_demo_command(tmp_path):
    r = subprocess.run([sys.executable, "-m", "audit", "demo", "--out", str(tmp_path), "--n-bootstrap", "200"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Disparities:" in r.stdout and "sex: Female vs Male" in r.stdout
    res = audit.AuditResult.from_json(tmp_path / "adult-audit.json")
    assert res.n_rows == 16_281 and res.protected == ("sex", "race")


@pytest.mark.slow
def test_readme_python_example_runs_as_written(tmp_path, monkeypatch):
    """Regression (issue 9): the README's example must run as written (it used undefined names, and
    `result.gate(...)` returns a GateResult, not a string)."""
    import re

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    code = re.search(r"## In Python\s+```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code.replace("n_bootstrap=1000", "n_bootstrap=200"), "README.md", "exec"), namespace)
    gate = namespace["gate"]
    from audit.gate import GateResult

    assert isinstance(gate, GateResult) and gate.passed is False
    assert (tmp_path / "audit.json").is_file() and (tmp_path / "audit.html").is_file()
