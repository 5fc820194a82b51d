"""The CI examples: both run the same audit step; run it here as they would."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import audit

ROOT = Path(__file__).resolve().parent.parent
STEP = "bash examples/ci/audit-step.sh audit-out"


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_examples_run_the_shared_step(name):
    text = (ROOT / "examples" / name).read_text()
    assert STEP in text and "pip install fairness-audit" in text


@pytest.mark.slow
def test_audit_step_runs_and_gates(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    r = subprocess.run(["bash", "examples/ci/audit-step.sh", str(tmp_path / "audit-out")], cwd=ROOT,
                       capture_output=True, text=True, env=env)
    # the demo model gives women the favourable prediction at 0.30x the men's rate: the four-fifths rule fails
    assert r.returncode == 1, r.stderr
    out = tmp_path / "audit-out"
    for name in ("audit.json", "audit.html", "junit.xml", "summary.md"):
        assert (out / name).is_file(), name
    from markdown_it import MarkdownIt

    summary = MarkdownIt("commonmark").enable("table").render((out / "summary.md").read_text())
    assert ("<td>four-fifths rule</td>\n<td>demographic_parity_ratio &gt;= 0.8 (significant)</td>\n"
            "<td>FAIL (blocks)</td>") in summary
    xmlschema = pytest.importorskip("xmlschema")
    xmlschema.XMLSchema(str(ROOT / "tests" / "data" / "junit.xsd")).validate(str(out / "junit.xml"))
    res = audit.AuditResult.from_json(out / "audit.json")
    assert res.n_rows == 16_281
