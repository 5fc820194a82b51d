"""The notebooks run top to bottom in a real Jupyter kernel (nbclient), against the installed package, in a
temporary folder; a failing cell (most end with assertions) fails the test. They are stored without outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebooks_are_stored_without_outputs():
    assert [p.name for p in NOTEBOOKS] == ["01_quickstart.ipynb", "02_bias_and_mitigation.ipynb",
                                           "03_explanations.ipynb", "04_ci_gate.ipynb", "05_at_scale.ipynb",
                                           "06_monitoring.ipynb", "07_regression_and_multiclass.ipynb",
                                           "08_documents.ipynb"]
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                assert cell.get("outputs") == [] and cell.get("execution_count") is None, path.name
            assert "audit._" not in "".join(cell["source"]), f"{path.name} uses a private module"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    # no cell floods the notebook (a to_json/to_html as a cell's last line printed 140,000 characters)
    sizes = {i: sum(len(str(o.get("text", ""))) + len(str(o.get("data", {}).get("text/plain", "")))
                    for o in c.get("outputs", [])) for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    assert max(sizes.values(), default=0) < 20_000, sizes
    charts = [c for c in nb.cells if c.cell_type == "code" and "chart(" in c.source]
    for c in charts:  # the charts render as the report's SVG
        assert any("<svg" in o.get("data", {}).get("text/html", "") for o in c.outputs), c.source
