"""The documentation: the API reference builds from the numpydoc docstrings with warnings as errors, and every
docstring example runs (doctest)."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCTESTED = ["audit._engine", "audit.results", "audit.config", "audit.gate.policy", "audit.mitigation", "audit.datasets",
             "audit.explain"]


@pytest.mark.parametrize("name", DOCTESTED)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0
    if name in ("audit._engine", "audit.results", "audit.config", "audit.gate.policy", "audit.mitigation"):
        assert result.attempted > 0  # the public entry points carry examples


def test_api_reference_builds_with_warnings_as_errors(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    api = (tmp_path / "site" / "reference" / "api" / "index.html").read_text()
    for name in ("run_audit", "AuditResult", "AuditConfig", "Policy", "evaluate", "reweighing_weights",
                 "ExplainConfig", "load_compas", "InputError"):
        assert name in api
    assert api.count("Parameters") >= 4 and "Examples" in api
    for guide in ("policies-and-the-gate", "ci-integration", "explanations", "mitigation", "large-data"):
        assert (tmp_path / "site" / "guides" / guide / "index.html").exists()


def test_every_public_name_is_documented():
    import audit

    for name in audit.__all__:
        obj = getattr(audit, name)
        if name.startswith("__") or name == "datasets":
            continue
        assert (obj.__doc__ or "").strip(), f"audit.{name} has no docstring"
